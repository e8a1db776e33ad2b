//! 账号管理 — the administrator's accounts pages. Secrets (initial
//! passwords, TOTP secrets) appear once, on the page that answers the form
//! post, and never in a URL.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sscard_domain::access::Role;

use super::staff::{Fields, NoticeQuery, StaffNav, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::ApiPath;
use crate::service::accounts::{AccountView, Client, NewAccount, RolesChange, TotpEnrollment};
use crate::service::{FieldError, ServiceError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/accounts", get(accounts).post(create))
        .route("/admin/accounts/{username}", get(account))
        .route("/admin/accounts/{username}/disable", post(disable))
        .route("/admin/accounts/{username}/enable", post(enable))
        .route(
            "/admin/accounts/{username}/reset-password",
            post(reset_password),
        )
        .route("/admin/accounts/{username}/roles", post(change_roles))
}

/// An account as the pages show it: everything already in Chinese.
struct AccountRow {
    username: String,
    display_name: String,
    roles: String,
    binding: String,
    status: String,
    disabled: bool,
    initial_password: &'static str,
    totp: &'static str,
}

impl AccountRow {
    fn of(account: &AccountView) -> Self {
        let roles: Vec<&str> = account.roles.iter().map(|r| r.label_zh()).collect();
        let binding = match (&account.bank_code, &account.employer_uscc) {
            (Some(bank), _) => format!("合作银行 {bank}"),
            (None, Some(uscc)) => format!("单位 {uscc}"),
            (None, None) => "—".to_owned(),
        };
        let status = if account.disabled {
            "已停用".to_owned()
        } else if let Some(until) = account.locked_until {
            format!("已锁定（至 {}）", to_china(until).format("%m-%d %H:%M"))
        } else {
            "正常".to_owned()
        };
        Self {
            username: account.username.clone(),
            display_name: account.display_name.clone(),
            roles: roles.join("、"),
            binding,
            status,
            disabled: account.disabled,
            initial_password: if account.must_change_password {
                "待修改"
            } else {
                "已修改"
            },
            totp: if account.totp_enabled {
                "已设置"
            } else {
                "未设置"
            },
        }
    }
}

/// A role check box.
struct RoleOption {
    code: &'static str,
    label: &'static str,
    checked: bool,
}

/// What the account forms hold (kept when a post is refused).
#[derive(Default)]
struct AccountForm {
    username: String,
    display_name: String,
    roles: Vec<RoleOption>,
    bank_code: String,
    employer_uscc: String,
}

fn role_options(checked: &[String]) -> Vec<RoleOption> {
    Role::ALL
        .into_iter()
        .map(|role| RoleOption {
            code: role.code(),
            label: role.label_zh(),
            checked: checked.iter().any(|code| code == role.code()),
        })
        .collect()
}

impl AccountForm {
    fn posted(fields: &Fields) -> Self {
        Self {
            username: fields.get("username").trim().to_owned(),
            display_name: fields.get("display_name").trim().to_owned(),
            roles: role_options(&fields.all("roles")),
            bank_code: fields.get("bank_code").trim().to_owned(),
            employer_uscc: fields.get("employer_uscc").trim().to_owned(),
        }
    }

    fn of(account: &AccountView) -> Self {
        let roles: Vec<String> = account.roles.iter().map(|r| r.code().to_owned()).collect();
        Self {
            username: account.username.clone(),
            display_name: account.display_name.clone(),
            roles: role_options(&roles),
            bank_code: account.bank_code.clone().unwrap_or_default(),
            employer_uscc: account.employer_uscc.clone().unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------
// The list and creating an account

#[derive(Template, WebTemplate)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    staff: StaffNav,
    accounts: Vec<AccountRow>,
    form: AccountForm,
    summary: String,
    errors: Vec<FieldError>,
}

async fn accounts_page(
    state: &AppState,
    session: &Session,
    form: AccountForm,
    summary: String,
    errors: Vec<FieldError>,
) -> Response {
    match state.services.list_accounts().await {
        Ok(accounts) => AccountsPage {
            staff: StaffNav::of(&session.principal),
            accounts: accounts.iter().map(AccountRow::of).collect(),
            form,
            summary,
            errors,
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn accounts(State(state): State<AppState>, session: Session) -> Response {
    let form = AccountForm {
        roles: role_options(&[]),
        ..AccountForm::default()
    };
    accounts_page(&state, &session, form, String::new(), Vec::new()).await
}

/// The page that shows an account's one-time secrets.
#[derive(Template, WebTemplate)]
#[template(path = "admin_secret.html")]
struct SecretPage {
    staff: StaffNav,
    title: &'static str,
    account: AccountRow,
    initial_password: Option<String>,
    totp: Option<TotpEnrollment>,
    sessions_ended: u64,
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let new = NewAccount {
        username: fields.get("username").to_owned(),
        display_name: fields.optional("display_name"),
        roles: fields.all("roles"),
        bank_code: fields.optional("bank_code"),
        employer_uscc: fields.optional("employer_uscc"),
    };
    match state
        .services
        .create_account(new, &session.principal.actor(&client))
        .await
    {
        Ok(created) => (
            StatusCode::CREATED,
            SecretPage {
                staff: StaffNav::of(&session.principal),
                title: "账号已创建",
                account: AccountRow::of(&created.account),
                initial_password: Some(created.initial_password),
                totp: created.totp,
                sessions_ended: 0,
            },
        )
            .into_response(),
        Err(error) => {
            let status = crate::http::problem::Problem::from(&error).status_code();
            let (summary, errors) = refusal(error);
            let mut response = accounts_page(
                &state,
                &session,
                AccountForm::posted(&fields),
                summary,
                errors,
            )
            .await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = status;
            }
            response
        }
    }
}

/// A refused change as the form shows it: the summary and every field
/// problem; a refusal about no field becomes one line.
fn refusal(error: ServiceError) -> (String, Vec<FieldError>) {
    match error {
        ServiceError::Invalid { detail, errors, .. } => (detail, errors),
        other => {
            let code = other.code();
            let detail = crate::http::problem::Problem::from(&other).detail;
            (detail.clone(), vec![FieldError::new("", code, detail)])
        }
    }
}

// ---------------------------------------------------------------------------
// One account

#[derive(Template, WebTemplate)]
#[template(path = "admin_account.html")]
struct AccountPage {
    staff: StaffNav,
    account: AccountRow,
    form: AccountForm,
    notice: Option<&'static str>,
    summary: String,
    errors: Vec<FieldError>,
}

async fn account(
    State(state): State<AppState>,
    session: Session,
    ApiPath(username): ApiPath<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = match query.notice.as_deref() {
        Some("disabled") => Some("账号已停用，其登录会话已全部结束。"),
        Some("enabled") => Some("账号已启用。"),
        Some("roles-unchanged") => Some("角色没有变化，未作修改。"),
        Some("roles-changed") => Some("角色已修改，该账号的登录会话已全部结束。"),
        _ => None,
    };
    match state.services.account(&username).await {
        Ok(account) => AccountPage {
            staff: StaffNav::of(&session.principal),
            account: AccountRow::of(&account),
            form: AccountForm::of(&account),
            notice,
            summary: String::new(),
            errors: Vec::new(),
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn set_disabled(
    state: &AppState,
    session: &Session,
    client: &Client,
    username: &str,
    disabled: bool,
) -> Response {
    match state
        .services
        .set_account_disabled(username, disabled, &session.principal.actor(client))
        .await
    {
        Ok(account) => see_other(&format!(
            "/admin/accounts/{}?notice={}",
            account.username,
            if disabled { "disabled" } else { "enabled" }
        )),
        Err(error) => service_error_page(&error),
    }
}

async fn disable(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Response {
    set_disabled(&state, &session, &client, &username, true).await
}

async fn enable(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Response {
    set_disabled(&state, &session, &client, &username, false).await
}

async fn reset_password(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Response {
    match state
        .services
        .reset_password(&username, &session.principal.actor(&client))
        .await
    {
        Ok(reset) => SecretPage {
            staff: StaffNav::of(&session.principal),
            title: "密码已重置",
            account: AccountRow::of(&reset.account),
            initial_password: Some(reset.initial_password),
            totp: None,
            sessions_ended: reset.sessions_ended,
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn change_roles(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
    fields: Fields,
) -> Response {
    let change = RolesChange {
        roles: fields.all("roles"),
        bank_code: fields.optional("bank_code"),
        employer_uscc: fields.optional("employer_uscc"),
    };
    match state
        .services
        .change_roles(&username, change, &session.principal.actor(&client))
        .await
    {
        Ok(changed) if changed.totp.is_some() => SecretPage {
            staff: StaffNav::of(&session.principal),
            title: "角色已修改",
            account: AccountRow::of(&changed.account),
            initial_password: None,
            totp: changed.totp,
            sessions_ended: changed.sessions_ended,
        }
        .into_response(),
        Ok(changed) => see_other(&format!(
            "/admin/accounts/{}?notice={}",
            changed.account.username,
            if changed.changed {
                "roles-changed"
            } else {
                "roles-unchanged"
            }
        )),
        Err(error @ ServiceError::Invalid { .. }) => {
            let account = match state.services.account(&username).await {
                Ok(account) => account,
                Err(error) => return service_error_page(&error),
            };
            let (summary, errors) = refusal(error);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                AccountPage {
                    staff: StaffNav::of(&session.principal),
                    account: AccountRow::of(&account),
                    form: AccountForm::posted(&fields),
                    notice: None,
                    summary,
                    errors,
                },
            )
                .into_response()
        }
        Err(error) => service_error_page(&error),
    }
}
