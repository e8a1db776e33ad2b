//! The pages of signed-in people: sign-in and sign-out with a cookie session,
//! the password page and the workbench. Each handler calls the same use case
//! as the JSON API and shows the service's own Chinese message.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sscard_domain::access::Role;

use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::{Session, clear_session_cookie, secure_cookies, session_cookie};
use crate::http::problem::Problem;
use crate::service::accounts::{Channel, Client, Principal, SignInAttempt};
use crate::service::{FieldError, ServiceError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(sign_in_form).post(sign_in))
        .route("/signout", post(sign_out))
        .route("/password", get(password_form).post(change_password))
        .route("/workbench", get(workbench))
}

/// A `303 See Other` to `location` (after a form post, the browser GETs it).
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "denied.html")]
struct DeniedPage<'a> {
    title: &'a str,
    detail: &'a str,
}

/// A refusal or failure as a page: a title, what happened and what to do.
pub fn denied_page(status: StatusCode, title: &str, detail: &str) -> Response {
    (status, DeniedPage { title, detail }).into_response()
}

/// A service failure as a page, with the message the API would give.
pub fn service_error_page(error: &ServiceError) -> Response {
    let problem = Problem::from(error);
    denied_page(problem.status_code(), &problem.title, &problem.detail)
}

/// The fields of a posted form (`application/x-www-form-urlencoded`), in
/// order; a name may repeat (check boxes). Its `Debug` shows names only, as
/// the values may be passwords.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The first value of `name`, trimmed, or `None` when blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Every field, in the order posted.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<Vec<(String, String)>>::from_request(request, state).await {
            Ok(axum::Form(fields))
                if fields
                    .iter()
                    .any(|(name, value)| name.contains('\0') || value.contains('\0')) =>
            {
                Err(denied_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "填写内容有误",
                    crate::http::problem::NUL_CHARACTER_DETAIL,
                ))
            }
            Ok(axum::Form(fields)) => Ok(Self(fields)),
            Err(rejection) => Err(denied_page(
                rejection.status(),
                "请求有误",
                "表单内容无法读取，请返回上一页重新填写后提交。",
            )),
        }
    }
}

/// What the page layout of signed-in people shows about them.
pub struct StaffNav {
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub can_audit: bool,
    /// Bureau staff look cards up (社会保障卡查询).
    pub can_look_up_cards: bool,
    /// Bureau staff see the cases (办件).
    pub can_see_cases: bool,
    /// Supervisors and administrators read the ratings (好差评).
    pub can_see_ratings: bool,
    /// Window clerks and supervisors answer online questions (互联网咨询).
    pub can_answer_consultations: bool,
    /// An employer account (单位经办人): its batch page.
    pub is_employer: bool,
    /// A cooperating bank's teller: the counter page (金融功能激活).
    pub is_bank_teller: bool,
    pub must_change_password: bool,
}

impl StaffNav {
    pub fn of(principal: &Principal) -> Self {
        Self {
            username: principal.username.clone(),
            display_name: principal.display_name.clone(),
            is_admin: principal.has_role(Role::Admin),
            can_audit: principal.has_role(Role::Admin) || principal.has_role(Role::Supervisor),
            can_look_up_cards: principal.roles.iter().any(Role::is_bureau_staff),
            can_see_cases: principal.roles.iter().any(Role::is_bureau_staff),
            can_see_ratings: principal.has_role(Role::Admin)
                || principal.has_role(Role::Supervisor),
            can_answer_consultations: [
                Role::Acceptor,
                Role::Processor,
                Role::Feedback,
                Role::Supervisor,
            ]
            .into_iter()
            .any(|role| principal.has_role(role)),
            is_employer: principal.has_role(Role::Employer),
            is_bank_teller: principal.has_role(Role::BankTeller),
            must_change_password: principal.must_change_password,
        }
    }
}

/// `?notice=` of the pages: a fixed code, never text to echo.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

// ---------------------------------------------------------------------------
// Sign-in and sign-out

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
struct SignInPage {
    username: String,
    notice: Option<&'static str>,
    error: Option<String>,
    totp_required: bool,
}

async fn sign_in_form(Query(query): Query<NoticeQuery>) -> Response {
    let notice = match query.notice.as_deref() {
        Some("expired") => Some("登录已过期或已结束，请重新登录。"),
        Some("signed-out") => Some("您已安全退出登录。"),
        _ => None,
    };
    SignInPage {
        username: String::new(),
        notice,
        error: None,
        totp_required: false,
    }
    .into_response()
}

/// Signs in with username, password and the optional TOTP code; opens the
/// cookie session and goes on to the password page or the workbench.
async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    fields: Fields,
) -> Response {
    let username = fields.get("username").trim().to_owned();
    let totp = fields.optional("totp");
    let attempt = SignInAttempt {
        username: &username,
        password: fields.get("password"),
        totp: totp.as_deref(),
    };
    match state
        .services
        .sign_in(&attempt, &client, Channel::Page)
        .await
        .inspect(|_| crate::http::metrics::sign_in(true))
        .inspect_err(|_| crate::http::metrics::sign_in(false))
    {
        Ok(signed_in) => {
            let mut response = see_other(if signed_in.principal.must_change_password {
                "/password"
            } else {
                "/workbench"
            });
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&signed_in.token, secure_cookies(&state.config, &headers)),
            );
            response
        }
        Err(error) => {
            let problem = Problem::from(&error);
            (
                problem.status_code(),
                SignInPage {
                    username,
                    notice: None,
                    error: Some(problem.detail),
                    totp_required: error.code() == "TOTP_REQUIRED",
                },
            )
                .into_response()
        }
    }
}

/// Ends the session and removes the cookie.
async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = state
        .services
        .sign_out(&session.token, &session.principal, &client)
        .await
    {
        return service_error_page(&error);
    }
    let mut response = see_other("/signin?notice=signed-out");
    response.headers_mut().insert(
        header::SET_COOKIE,
        clear_session_cookie(secure_cookies(&state.config, &headers)),
    );
    response
}

// ---------------------------------------------------------------------------
// Password

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
struct PasswordPage {
    staff: StaffNav,
    summary: String,
    errors: Vec<FieldError>,
}

async fn password_form(session: Session) -> Response {
    PasswordPage {
        staff: StaffNav::of(&session.principal),
        summary: String::new(),
        errors: Vec::new(),
    }
    .into_response()
}

/// Changes the password (current, new, new again); every problem is shown
/// at once; success goes on to the workbench.
async fn change_password(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    fields: Fields,
) -> Response {
    let result = state
        .services
        .change_password_confirmed(
            &session.principal,
            fields.get("current_password"),
            fields.get("new_password"),
            fields.get("repeat_password"),
            &session.token,
            &client,
        )
        .await;
    match result {
        Ok(()) => see_other("/workbench?notice=password-changed"),
        Err(ServiceError::Invalid { detail, errors, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            PasswordPage {
                staff: StaffNav::of(&session.principal),
                summary: detail,
                errors,
            },
        )
            .into_response(),
        Err(error) => service_error_page(&error),
    }
}

// ---------------------------------------------------------------------------
// Workbench

#[derive(Template, WebTemplate)]
#[template(path = "workbench.html")]
struct WorkbenchPage {
    staff: StaffNav,
    notice: Option<&'static str>,
    roles: Vec<RoleCard>,
    session_ends: String,
    /// Bureau staff: how many cases wait in each queue, their own first.
    queues: Vec<super::cases::QueueLink>,
    can_enter_cases: bool,
}

/// One role of the account and the work it does.
struct RoleCard {
    code: &'static str,
    label: &'static str,
    /// The bank or employer the account acts for.
    binding: Option<String>,
    duties: Vec<Duty>,
}

struct Duty {
    title: &'static str,
    text: &'static str,
    /// A page that does this work now.
    href: Option<&'static str>,
    /// The work is described but its pages are not open yet.
    upcoming: bool,
}

const fn open(title: &'static str, href: &'static str, text: &'static str) -> Duty {
    Duty {
        title,
        text,
        href: Some(href),
        upcoming: false,
    }
}

const fn upcoming(title: &'static str, text: &'static str) -> Duty {
    Duty {
        title,
        text,
        href: None,
        upcoming: true,
    }
}

/// The work of a role, as the guide's process and the team's plan describe it.
fn duties(role: Role) -> Vec<Duty> {
    match role {
        Role::Acceptor => vec![
            open(
                "收件与受理",
                "/cases?queue=submitted",
                "接收窗口、网上和快递提交的启用申请，核对申请材料：齐全的当场受理（即办件）；不齐全的出具一次性告知书，一次列明需补正的全部材料；不符合受理条件的作出不予受理决定。",
            ),
            open(
                "录入窗口或快递申请",
                "/cases/new",
                "录入到窗口办理的申请人（或受委托人）提交的、或邮寄来的《社会保障卡服务申请表》，预审后提交。",
            ),
            open(
                "互联网咨询",
                "/consultations",
                "答复办事群众在网上提出的咨询；电话、现场查询进度时，在办件队列按申请编号或身份证号码查找办件（每次查找都记入审计日志）。",
            ),
            open(
                "单位批量启用受理",
                "/batches?state=submitted",
                "核对单位上传的加盖公章的批量启用授权委托书：符合要求的受理，系统随即按个人办件的审查规则逐行办理名单；不符合要求的出具一次性告知，或作出不予受理决定。",
            ),
        ],
        Role::Processor => vec![
            open(
                "审查与决定",
                "/cases?queue=awaiting_processing",
                "对已受理的申请进行书面审查（时限 1 个工作日）：符合政策法规的作出决定并启用社会保障卡社保功能；不符合的作出不予通过决定并说明理由。",
            ),
            open(
                "单位批量启用进度",
                "/batches?state=awaiting_processing",
                "已受理的单位批量办件由系统按个人办件的审查规则逐行办理（参保、本单位职工、卡片状态），在此查看进度和每类失败原因的行数。",
            ),
        ],
        Role::Feedback => vec![
            open(
                "颁证与送达",
                "/cases?queue=awaiting_feedback",
                "按申请人选择的方式窗口领取、网上下载或快递送达办理结果并登记送达（即办件，邮费由政府支付），在办件页下载、打印业务反馈单交给申请人。",
            ),
            open(
                "单位批量启用送达",
                "/batches?state=awaiting_feedback",
                "逐行办理完成的单位批量办件：核对结果清单后送达，单位即可下载每一行的办理结果。",
            ),
        ],
        Role::Supervisor => vec![
            open(
                "审计日志",
                "/audit",
                "查询谁在何时、从何处、对什么做了什么及其结果，并校验审计链是否被改动。",
            ),
            open(
                "超期办件",
                "/cases?queue=overdue",
                "查看已超过本环节办理时限的办件（等待申请人补正的时间不计入），督促相应岗位办理。",
            ),
            open(
                "好差评与整改回访",
                "/ratings",
                "查看各评价等级的占比和评价明细；对不满意、非常不满意的差评，在时限（工作日）内登记整改情况、回访结果并办结。",
            ),
            open(
                "互联网咨询",
                "/consultations",
                "答复办事群众在网上提出的咨询。",
            ),
            upcoming("办件统计", "按时间、渠道和结果统计办件。"),
        ],
        Role::Admin => vec![
            open(
                "账号管理",
                "/admin/accounts",
                "创建账号并分配角色，停用、启用账号，为忘记密码或被锁定的人员重置密码。",
            ),
            open(
                "合作银行",
                "/admin/banks",
                "登记合作银行的代码、名称、发卡行识别码（BIN）、联系人和银行系统的 SM2 公钥，暂停或恢复合作；查看批量报送、回盘情况和银行拒绝开户待跟进的卡。",
            ),
            open("审计日志", "/audit", "查询审计记录，校验审计链的完整性。"),
            upcoming(
                "办事指南与工作日历",
                "发布新版办事指南、导入每年的法定节假日和调休安排（目前由运维人员通过 sscard guide publish、sscard calendar import 命令办理）。",
            ),
        ],
        Role::BankTeller => vec![open(
            "激活金融功能",
            "/bank",
            "持卡人本人持身份证原件到柜台时，激活社会保障卡的金融（银行账户）功能；金融功能不得由他人代办。",
        )],
        Role::Employer => vec![open(
            "批量启用",
            "/employer",
            "为本单位职工批量启用社会保障卡社保功能：下载名单模板，上传加盖单位公章的批量启用授权书及职工电子名单，查看办理进度并下载每一行的办理结果。",
        )],
    }
}

async fn workbench(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let principal = &session.principal;
    let queues = if principal.roles.iter().any(Role::is_bureau_staff) {
        match state.services.queue_counts().await {
            Ok(counts) => {
                super::cases::queue_links(&super::cases::queue_order(principal), &counts, false)
            }
            Err(error) => return service_error_page(&error),
        }
    } else {
        Vec::new()
    };
    let notice = match query.notice.as_deref() {
        Some("password-changed") => Some("密码已修改。您在其他设备上的登录会话已全部结束。"),
        _ => None,
    };
    let roles = principal
        .roles
        .iter()
        .map(|role| RoleCard {
            code: role.code(),
            label: role.label_zh(),
            binding: match role {
                Role::BankTeller => principal
                    .bank_code
                    .as_ref()
                    .map(|bank| format!("所属合作银行：{bank}")),
                Role::Employer => principal
                    .employer_uscc
                    .as_ref()
                    .map(|uscc| format!("所属单位统一社会信用代码：{uscc}")),
                _ => None,
            },
            duties: duties(role),
        })
        .collect();
    WorkbenchPage {
        staff: StaffNav::of(principal),
        notice,
        roles,
        session_ends: to_china(principal.session_expires_at)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        queues,
        can_enter_cases: principal.has_role(Role::Acceptor),
    }
    .into_response()
}
