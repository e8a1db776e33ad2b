use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::{ApiJson, ApiPath, Problem};
use crate::service::accounts::{AccountView, Client, NewAccount, RolesChange};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub username: String,
    pub display_name: Option<String>,
    /// Role codes: acceptor, processor, feedback, supervisor, admin, bank_teller, employer.
    pub roles: Vec<String>,
    /// For `bank_teller`: the cooperating bank's code.
    pub bank_code: Option<String>,
    /// For `employer`: the employer's unified social credit code.
    pub employer_uscc: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedAccountResponse {
    pub account: AccountView,
    /// Shown once; must be changed at the first sign-in.
    pub initial_password: String,
    /// For admin and supervisor accounts: the TOTP secret to enrol in an authenticator app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_uri: Option<String>,
}

/// Every account (admins only).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Vec<AccountView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AccountView>>, Problem> {
    Ok(Json(state.services.list_accounts().await?))
}

/// Create an account (admins only); the initial password is shown once.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])),
    request_body = CreateAccount,
    responses(
        (status = 201, body = CreatedAccountResponse),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(request): ApiJson<CreateAccount>,
) -> Result<(StatusCode, Json<CreatedAccountResponse>), Problem> {
    let created = state
        .services
        .create_account(
            NewAccount {
                username: request.username,
                display_name: request.display_name,
                roles: request.roles,
                bank_code: request.bank_code,
                employer_uscc: request.employer_uscc,
            },
            &session.principal.actor(&client),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccountResponse {
            account: created.account,
            initial_password: created.initial_password,
            totp_secret: created.totp.as_ref().map(|t| t.secret_base32.clone()),
            totp_uri: created.totp.map(|t| t.otpauth_uri),
        }),
    ))
}

/// Disable an account; its sessions end at once (admins only).
#[utoipa::path(post, path = "/api/v1/accounts/{username}/disable", tag = "accounts", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn disable(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<AccountView>, Problem> {
    Ok(Json(
        state
            .services
            .set_account_disabled(&username, true, &session.principal.actor(&client))
            .await?,
    ))
}

/// Enable a disabled account again (admins only).
#[utoipa::path(post, path = "/api/v1/accounts/{username}/enable", tag = "accounts", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn enable(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<AccountView>, Problem> {
    Ok(Json(
        state
            .services
            .set_account_disabled(&username, false, &session.principal.actor(&client))
            .await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordResetResponse {
    pub account: AccountView,
    /// The new one-time initial password: shown once, to be changed at the next sign-in.
    pub initial_password: String,
    /// How many open sessions of the account ended.
    pub sessions_ended: u64,
}

/// Reset a password (admins only): a new one-time initial password, which
/// must be changed at the next sign-in; the lock-out is lifted and every
/// session of the account ends.
#[utoipa::path(post, path = "/api/v1/accounts/{username}/reset-password", tag = "accounts", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses(
        (status = 200, body = PasswordResetResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<PasswordResetResponse>, Problem> {
    let reset = state
        .services
        .reset_password(&username, &session.principal.actor(&client))
        .await?;
    Ok(Json(PasswordResetResponse {
        account: reset.account,
        initial_password: reset.initial_password,
        sessions_ended: reset.sessions_ended,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoles {
    /// Role codes: acceptor, processor, feedback, supervisor, admin, bank_teller, employer.
    pub roles: Vec<String>,
    /// For `bank_teller`: the cooperating bank's code.
    pub bank_code: Option<String>,
    /// For `employer`: the employer's unified social credit code.
    pub employer_uscc: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RolesChangedResponse {
    pub account: AccountView,
    /// False when the account already had exactly these roles and bindings.
    pub changed: bool,
    /// When the new roles need TOTP and the account had none: the new secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_uri: Option<String>,
    /// How many open sessions of the account ended (its holder signs in again).
    pub sessions_ended: u64,
}

/// Change an account's roles and bindings (admins only), checked like a new
/// account's; every session of the account ends.
#[utoipa::path(put, path = "/api/v1/accounts/{username}/roles", tag = "accounts", security(("bearer" = [])),
    params(("username" = String, Path)),
    request_body = ChangeRoles,
    responses(
        (status = 200, body = RolesChangedResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_roles(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(username): ApiPath<String>,
    ApiJson(request): ApiJson<ChangeRoles>,
) -> Result<Json<RolesChangedResponse>, Problem> {
    let changed = state
        .services
        .change_roles(
            &username,
            RolesChange {
                roles: request.roles,
                bank_code: request.bank_code,
                employer_uscc: request.employer_uscc,
            },
            &session.principal.actor(&client),
        )
        .await?;
    Ok(Json(RolesChangedResponse {
        account: changed.account,
        changed: changed.changed,
        totp_secret: changed.totp.as_ref().map(|t| t.secret_base32.clone()),
        totp_uri: changed.totp.map(|t| t.otpauth_uri),
        sessions_ended: changed.sessions_ended,
    }))
}
