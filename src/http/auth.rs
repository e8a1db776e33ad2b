//! Authorization, decided in one place: every route has a rule in [`rule`],
//! a route without one is denied, and a test walks every route against every
//! role. The middleware authenticates the session (bearer token or cookie),
//! applies the rule and hands the principal to the handler.
//!
//! The same rule serves two kinds of client. JSON routes (under `/api/`, and
//! the health probes) answer a denial with a problem document. Page routes
//! (everything else) answer as a browser needs: an anonymous or expired
//! session is sent to `/signin` (303), an account that must still change its
//! initial password to `/password`, and a missing role gets a Chinese page.
//! On the cardholder's pages ([`Access::Citizen`], under `/my`) an anonymous
//! or expired visitor is sent to `/my/signin` instead, and a staff session
//! gets a page saying these pages are the cardholder's.
//!
//! Two kinds of people sign in: staff, bank and employer accounts
//! ([`Session`]), and citizens ([`CitizenSession`], [`Access::Citizen`]).
//! Both send `Authorization: Bearer <token>`; a citizen token starts with
//! `c_` ([`is_citizen_token`]), so the kind is known before any look-up and
//! a token of one kind never opens a route of the other (403
//! `ROLE_NOT_PERMITTED`).

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sscard_domain::access::Role;

use super::pages::staff as pages;
use super::problem::Problem;
use super::{AppState, HttpConfig};
use crate::service::ServiceError;
use crate::service::accounts::{Client, Principal};
use crate::service::citizens::{CitizenPrincipal, is_citizen_token};

/// The name of the page session cookie.
pub const SESSION_COOKIE: &str = "sscard_session";

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account, even one that must still change its initial
    /// password (the routes that let it do so).
    AnyAccount,
    /// A signed-in account holding one of these roles, password changed.
    Roles(&'static [Role]),
    /// A signed-in citizen (citizen token), for the citizen's own data only:
    /// handlers take [`CitizenSession`] and narrow every look-up to
    /// `principal.person_id`.
    Citizen,
    /// A signed-in citizen (their own cases only) or an account holding one
    /// of these roles: the case routes, where a cardholder applies and
    /// supplements and staff do the rest. Handlers take [`CallerSession`].
    CitizenOrRoles(&'static [Role]),
    /// A cooperating bank's system by an SM2-signed request (`X-Bank-Code`
    /// and the other headers of `docs/bank-interface.md`, checked by
    /// [`super::bank_signature`]), or an account holding one of these roles.
    BankOrRoles(&'static [Role]),
}

const ADMIN: &[Role] = &[Role::Admin];
const AUDIT_READERS: &[Role] = &[Role::Supervisor, Role::Admin];
const ANY_ROLE: &[Role] = &Role::ALL;
/// The window staff of the bureau, their supervisors and administrators.
const BUREAU_STAFF: &[Role] = &[
    Role::Acceptor,
    Role::Processor,
    Role::Feedback,
    Role::Supervisor,
    Role::Admin,
];
/// The window clerks who handle a cardholder in person and may reveal a
/// full identifier (audited).
const WINDOW_CLERKS: &[Role] = &[Role::Acceptor, Role::Processor, Role::Feedback];
/// The 受理岗, who enters walk-in and posted applications.
const ACCEPTORS: &[Role] = &[Role::Acceptor];
/// The 反馈岗, who delivers results and records what happened to a posted one.
const FEEDBACK: &[Role] = &[Role::Feedback];
/// Supervisors, who follow up bad ratings (整改回访).
const SUPERVISORS: &[Role] = &[Role::Supervisor];
/// Who answers online questions (互联网咨询): the window clerks and supervisors.
const CONSULTATION_STAFF: &[Role] = &[
    Role::Acceptor,
    Role::Processor,
    Role::Feedback,
    Role::Supervisor,
];
/// 单位经办人: an employer account, bound to one unified social credit code.
const EMPLOYERS: &[Role] = &[Role::Employer];
/// Who reads batches: the employer (its own) and bureau staff.
const BATCH_READERS: &[Role] = &[
    Role::Employer,
    Role::Acceptor,
    Role::Processor,
    Role::Feedback,
    Role::Supervisor,
    Role::Admin,
];
/// Cooperating bank tellers (金融功能激活 at the counter).
const BANK_TELLERS: &[Role] = &[Role::BankTeller];
/// Bureau staff and cooperating bank tellers (who see only their bank's cards).
const CARD_READERS: &[Role] = &[
    Role::Acceptor,
    Role::Processor,
    Role::Feedback,
    Role::Supervisor,
    Role::Admin,
    Role::BankTeller,
];

/// The rule of a route, by method and route template; `None` = no rule,
/// which the middleware answers with a denial.
pub fn rule(method: &Method, route: &str) -> Option<Access> {
    use Access::{AnyAccount, Public, Roles};
    let get = *method == Method::GET || *method == Method::HEAD;
    let access = match (method.as_str(), route) {
        (_, route) if get && is_public_read(route) => Public,
        (
            "POST",
            "/api/v1/identifiers/check"
            | "/api/v1/session"
            | "/api/v1/citizen/otp"
            | "/api/v1/citizen/session"
            // 办理进度查询: all three of number, ID number and name must
            // match; rate-limited.
            | "/api/v1/progress"
            | "/progress"
            // The sign-in page's form.
            | "/signin"
            // 网上办理: the cardholder's sign-in page asks for the SMS code,
            // then signs in with it (both rate-limited).
            | "/my/signin/code"
            | "/my/signin"
            // 业务反馈单真伪验证 by code or by the PDF (rate-limited).
            | "/verify"
            | "/verify/upload"
            | "/api/v1/slips/verify"
            // 互联网咨询: asking without signing in, and reading the answer
            // by number and access code (both rate-limited).
            | "/api/v1/consultations"
            | "/api/v1/consultations/lookup"
            | "/consult"
            | "/progress/consultation",
        ) => Public,
        ("GET" | "DELETE", "/api/v1/session")
        | ("POST", "/api/v1/session/password")
        // Pages: the password page and signing out.
        | ("GET" | "POST", "/password")
        | ("POST", "/signout") => AnyAccount,
        ("GET" | "POST", "/api/v1/accounts")
        | (
            "POST",
            "/api/v1/accounts/{username}/disable"
            | "/api/v1/accounts/{username}/enable"
            | "/api/v1/accounts/{username}/reset-password",
        )
        | ("PUT", "/api/v1/accounts/{username}/roles")
        // The simulated SMS gateway's outbox (demo installations).
        | ("GET", "/api/v1/admin/sms-outbox")
        // Pages: 账号管理.
        | ("GET" | "POST", "/admin/accounts")
        | ("GET", "/admin/accounts/{username}")
        | (
            "POST",
            "/admin/accounts/{username}/disable"
            | "/admin/accounts/{username}/enable"
            | "/admin/accounts/{username}/reset-password"
            | "/admin/accounts/{username}/roles",
        )
        // 合作银行: the bank registry (API and pages).
        | ("POST", "/api/v1/banks" | "/api/v1/banks/{code}/requeue")
        | ("PUT", "/api/v1/banks/{code}")
        | ("GET" | "POST", "/admin/banks" | "/admin/banks/{code}")
        | ("POST", "/admin/banks/{code}/requeue") => Roles(ADMIN),
        // The audit trail, as JSON and as the 审计日志 page; 好差评 — the
        // ratings overview and the follow-ups of bad ones.
        (
            "GET",
            "/api/v1/audit"
            | "/audit"
            | "/api/v1/ratings"
            | "/api/v1/follow-ups"
            | "/ratings",
        ) => Roles(AUDIT_READERS),
        // Citizens: a one-time code by SMS (public, above), then their own session.
        ("GET" | "DELETE", "/api/v1/citizen/session")
        // Pages: 网上办理 — the cardholder's own cases, the online form, the
        // supplement after a one-time notice, their own scans, signing out.
        | ("GET", "/my" | "/my/cases/{application_no}" | "/my/uploads/{upload_id}")
        // 下载业务反馈单: the holder's electronic result.
        | ("GET", "/my/cases/{application_no}/slip.pdf")
        | ("GET" | "POST", "/my/apply")
        | ("POST", "/my/cases/{application_no}/supplement" | "/my/signout")
        // The cardholder rates their ended case (好差评) and asks questions
        // (互联网咨询) from their account, API and pages.
        | ("POST", "/my/cases/{application_no}/rating")
        | ("GET" | "POST", "/my/consultations" | "/api/v1/citizen/consultations") => {
            Access::Citizen
        }
        // The express delivery status after 送达 (反馈岗).
        (
            "POST",
            "/api/v1/applications/{application_no}/delivery-status"
            | "/cases/{application_no}/delivery-status",
        ) => Roles(FEEDBACK),
        // 整改回访: supervisors record (administrators read, with the audit trail).
        (
            "POST",
            "/api/v1/follow-ups/{application_no}/{step}"
            | "/ratings/follow-ups/{application_no}/{step}",
        ) => Roles(SUPERVISORS),
        // 互联网咨询: the staff's queue and answers.
        (
            "GET",
            "/api/v1/consultations"
            | "/api/v1/consultations/{consultation_no}"
            | "/consultations"
            | "/consultations/{consultation_no}",
        )
        | (
            "POST",
            "/api/v1/consultations/{consultation_no}/answer"
            | "/consultations/{consultation_no}/answer",
        ) => Roles(CONSULTATION_STAFF),
        // The workbench: every signed-in account, password changed.
        ("GET", "/workbench") => Roles(ANY_ROLE),
        // The card registry: look-ups (a bank teller's are scoped to their bank).
        ("GET", "/api/v1/cards/{card_number}") => Roles(CARD_READERS),
        // 合作银行: tellers activate at the counter (page and API); a bank's
        // system calls the same API with an SM2-signed request.
        ("POST", "/api/v1/bank/activations") | ("GET", "/api/v1/bank/cards/{card_number}") => {
            Access::BankOrRoles(BANK_TELLERS)
        }
        ("GET" | "POST", "/bank") => Roles(BANK_TELLERS),
        ("POST", "/api/v1/persons/lookup")
        | ("GET" | "POST", "/staff/cards")
        // The bank registry: bureau staff read it (and the banks' rejections
        // to follow up); administrators keep it (above).
        | ("GET", "/api/v1/banks" | "/api/v1/banks/{code}" | "/api/v1/banks/{code}/rejections") => {
            Roles(BUREAU_STAFF)
        }
        // 查看完整信息: a full identifier, with a reason, audited.
        ("POST", "/api/v1/cards/{card_number}/reveal")
        // Pages: 办件 — the actions on a case; the domain checks each
        // action's role against the case's step.
        | ("POST", "/cases/{application_no}/{action}")
        // 窗口评价: a window clerk records the applicant's rating.
        | ("POST", "/cases/{application_no}/rating") => Roles(WINDOW_CLERKS),
        // The activation case: a cardholder applies online, the 受理岗
        // enters walk-in and posted applications; the domain checks each
        // action's role against the case's step.
        ("POST", "/api/v1/applications" | "/api/v1/applications/precheck" | "/api/v1/uploads") => {
            Access::CitizenOrRoles(ACCEPTORS)
        }
        ("GET", "/api/v1/applications" | "/api/v1/applications/{application_no}")
        // 业务反馈单: bureau staff, or the cardholder for their own ended case.
        | ("GET", "/api/v1/applications/{application_no}/slip.pdf")
        | ("GET", "/api/v1/uploads/{upload_id}") => Access::CitizenOrRoles(BUREAU_STAFF),
        // … and 好差评: the cardholder online, or a window clerk for the applicant.
        (
            "POST",
            "/api/v1/applications/{application_no}/{action}"
            | "/api/v1/applications/{application_no}/rating",
        ) => Access::CitizenOrRoles(WINDOW_CLERKS),
        ("GET", "/api/v1/applications/queues")
        // Pages: 办件 — the queues, a case and its scans.
        | (
            "GET",
            "/cases"
            | "/cases/find"
            | "/cases/{application_no}"
            | "/cases/{application_no}/materials/{code}"
            // 下载业务反馈单.
            | "/cases/{application_no}/slip.pdf"
            // 单位批量启用: the staff's batch queues and a batch.
            | "/batches"
            | "/batches/{batch_no}",
        )
        // 电话查询、现场查询: the audited look-up by number or ID number.
        | ("POST", "/api/v1/applications/lookup" | "/cases/find") => Roles(BUREAU_STAFF),
        // Pages: 办件 — the window entry of a walk-in's or a posted form.
        ("GET" | "POST", "/cases/new") => Roles(ACCEPTORS),
        // 单位批量启用: an employer submits and supplements its own batches
        // (the service narrows every look-up to the account's USCC); staff
        // and the employer read them; the window clerks take the steps (the
        // domain checks each step's role).
        ("POST", "/api/v1/batches" | "/api/v1/batches/{batch_no}/supplement")
        // Pages: the employer's batches.
        | ("GET", "/employer" | "/employer/batches/{batch_no}")
        | ("POST", "/employer/batches" | "/employer/batches/{batch_no}/supplement") => {
            Roles(EMPLOYERS)
        }
        (
            "GET",
            "/api/v1/batches"
            | "/api/v1/batches/template.xlsx"
            | "/api/v1/batches/{batch_no}"
            | "/api/v1/batches/{batch_no}/report.xlsx"
            | "/api/v1/batches/{batch_no}/authorization",
        ) => Roles(BATCH_READERS),
        ("POST", "/api/v1/batches/{batch_no}/{action}" | "/batches/{batch_no}/{action}") => {
            Roles(WINDOW_CLERKS)
        }
        _ => return None,
    };
    Some(access)
}

/// Pages, assets, documentation and reference data anyone may read.
fn is_public_read(route: &str) -> bool {
    matches!(
        route,
        "/healthz"
            | "/readyz"
            | "/"
            | "/signin"
            | "/my/signin"
            | "/progress"
            // 互联网咨询: the guide's FAQ and the question form.
            | "/consult"
            // 业务反馈单真伪验证: the form, the result page the slip's QR code
            // leads to, the API by code and the bureau's public keys (the
            // code routes are rate-limited).
            | "/verify"
            | "/verify/{verification_code}"
            | "/api/v1/slips/{verification_code}"
            | "/api/v1/slips/public-key"
            | "/static/style.css"
            // The batch pages' progress script (same-origin, CSP script-src 'self').
            | "/static/batch.js"
            | "/api/openapi.json"
            // The handler itself admits only allowed addresses or the token.
            | "/metrics"
            | "/api/docs"
            | "/api/v1/guide"
            | "/api/v1/guide/versions"
            | "/api/v1/guide/versions/{version}"
            | "/api/v1/calendar/deadline"
            | "/api/v1/calendar/years"
            | "/api/v1/calendar/years/{year}"
            // The keys that verify the bureau's signed answers to banks.
            | "/api/v1/bank/server-key"
    ) || route.starts_with("/api/docs/")
}

/// The session behind an authenticated request.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    /// The bearer token or cookie value, to end or keep this session.
    pub token: String,
}

/// The citizen session behind an authenticated request on an
/// [`Access::Citizen`] route.
#[derive(Clone, Debug)]
pub struct CitizenSession {
    pub principal: CitizenPrincipal,
    /// The bearer token, to end this session.
    pub token: String,
}

/// Who the middleware let through.
enum SignedIn {
    Staff(Session),
    Citizen(CitizenSession),
}

/// Whether a route is answered as JSON (problem documents) rather than as
/// pages (redirects and HTML).
pub fn is_api_route(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/api") || route.starts_with("/api/")
}

/// Applies [`rule`] to every matched route.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    // A bank system's signed request: authenticated by its signature, not a session.
    if matches!(rule(request.method(), &route), Some(Access::BankOrRoles(_)))
        && super::bank_signature::is_bank_signed(request.headers())
    {
        return super::bank_signature::authenticate(&state, request, next).await;
    }
    let denial = match check(&state, &route, request.method(), request.headers()).await {
        Ok(None) => return next.run(request).await,
        Ok(Some(SignedIn::Staff(session))) => {
            request.extensions_mut().insert(session);
            return next.run(request).await;
        }
        Ok(Some(SignedIn::Citizen(session))) => {
            request.extensions_mut().insert(session);
            return next.run(request).await;
        }
        Err(denial) => denial,
    };
    if is_api_route(&route) {
        denial.into_problem().into_response()
    } else {
        denial.into_page(secure_cookies(&state.config, request.headers()))
    }
}

/// Why a request may not go on.
enum Denial {
    /// The route has no rule.
    NoRule,
    /// No token came with the request.
    NotSignedIn,
    /// No token came with a request for a citizen route.
    CitizenNotSignedIn,
    /// A staff token on a citizen route.
    CitizensOnly,
    /// A citizen token on a staff route.
    StaffOnly,
    /// The token names no open session (expired, signed out, disabled), or
    /// the sessions could not be checked.
    Session(ServiceError),
    /// As [`Denial::Session`], for a citizen token on a citizen route (a
    /// page sends the person to the citizen sign-in page).
    CitizenSession(ServiceError),
    /// The initial password must be changed first.
    PasswordChangeRequired,
    /// The account lacks every role the route needs.
    RoleNotPermitted(&'static [Role]),
}

/// The rule's verdict: `None` for a public route, the session for a
/// permitted signed-in request.
async fn check(
    state: &AppState,
    route: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, Denial> {
    let Some(access) = rule(method, route) else {
        tracing::error!(route, %method, "route without an access rule: denied");
        return Err(Denial::NoRule);
    };
    if access == Access::Public {
        return Ok(None);
    }
    let citizen_route = access == Access::Citizen;
    let token = session_token(headers).ok_or(if citizen_route {
        Denial::CitizenNotSignedIn
    } else {
        Denial::NotSignedIn
    })?;
    if matches!(access, Access::CitizenOrRoles(_)) && is_citizen_token(&token) {
        let principal = state
            .services
            .authenticate_citizen(&token)
            .await
            .map_err(Denial::Session)?;
        return Ok(Some(SignedIn::Citizen(CitizenSession { principal, token })));
    }
    // The kind of token, by its prefix, before any look-up.
    match (citizen_route, is_citizen_token(&token)) {
        (true, false) => return Err(Denial::CitizensOnly),
        (false, true) => return Err(Denial::StaffOnly),
        (true, true) => {
            let principal = state
                .services
                .authenticate_citizen(&token)
                .await
                .map_err(Denial::CitizenSession)?;
            return Ok(Some(SignedIn::Citizen(CitizenSession { principal, token })));
        }
        (false, false) => {}
    }
    let principal = state
        .services
        .authenticate(&token)
        .await
        .map_err(Denial::Session)?;
    if let Access::Roles(roles) | Access::CitizenOrRoles(roles) | Access::BankOrRoles(roles) =
        access
    {
        if principal.must_change_password {
            return Err(Denial::PasswordChangeRequired);
        }
        if !roles.iter().any(|role| principal.has_role(*role)) {
            return Err(Denial::RoleNotPermitted(roles));
        }
    }
    Ok(Some(SignedIn::Staff(Session { principal, token })))
}

impl Denial {
    /// The answer to a JSON client.
    fn into_problem(self) -> Problem {
        match self {
            Denial::NoRule => Problem::new(
                StatusCode::FORBIDDEN,
                "ACCESS_DENIED",
                "无权办理",
                "此功能未开放。",
            ),
            Denial::NotSignedIn => Problem::new(
                StatusCode::UNAUTHORIZED,
                "NOT_SIGNED_IN",
                "未登录或登录已失效",
                "请先登录（Authorization: Bearer <token>，令牌由 POST /api/v1/session 取得）。",
            ),
            Denial::CitizenNotSignedIn => Problem::new(
                StatusCode::UNAUTHORIZED,
                "NOT_SIGNED_IN",
                "未登录或登录已失效",
                "请先登录：以身份证号码和姓名获取短信验证码（POST /api/v1/citizen/otp），再以验证码登录（POST /api/v1/citizen/session），然后带上 Authorization: Bearer <token>。",
            ),
            Denial::CitizensOnly => Problem::new(
                StatusCode::FORBIDDEN,
                "ROLE_NOT_PERMITTED",
                "无权办理",
                "此功能仅限办事群众本人使用，须以身份证号码和短信验证码登录；工作人员账号不能使用。",
            ),
            Denial::StaffOnly => Problem::new(
                StatusCode::FORBIDDEN,
                "ROLE_NOT_PERMITTED",
                "无权办理",
                "此功能仅限工作人员使用。",
            ),
            Denial::Session(error) | Denial::CitizenSession(error) => Problem::from(error),
            Denial::PasswordChangeRequired => Problem::new(
                StatusCode::FORBIDDEN,
                "PASSWORD_CHANGE_REQUIRED",
                "请先修改初始密码",
                "首次登录须先修改初始密码（POST /api/v1/session/password），再办理业务。",
            ),
            Denial::RoleNotPermitted(roles) => Problem::new(
                StatusCode::FORBIDDEN,
                "ROLE_NOT_PERMITTED",
                "无权办理",
                roles_only(roles),
            ),
        }
    }

    /// The answer to a browser.
    fn into_page(self, secure_cookies: bool) -> Response {
        match self {
            Denial::NotSignedIn => pages::see_other("/signin"),
            Denial::Session(ServiceError::Unauthorized { .. }) => {
                // The cookie names a session that has ended: drop it.
                let mut response = pages::see_other("/signin?notice=expired");
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, clear_session_cookie(secure_cookies));
                response
            }
            Denial::PasswordChangeRequired => pages::see_other("/password"),
            // The cardholder's pages: sign in by SMS code first.
            Denial::CitizenNotSignedIn => pages::see_other("/my/signin"),
            Denial::CitizenSession(ServiceError::Unauthorized { .. }) => {
                let mut response = pages::see_other("/my/signin?notice=expired");
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, clear_session_cookie(secure_cookies));
                response
            }
            Denial::CitizensOnly => pages::denied_page(
                StatusCode::FORBIDDEN,
                "此页面供办事群众本人使用",
                "您当前以工作人员账号登录。网上办理页面须由持卡人本人以身份证号码和短信验证码登录；工作人员请在工作台办理。如需以持卡人身份办理，请先退出工作人员账号，再打开“网上办理”登录。",
            ),
            Denial::RoleNotPermitted(roles) => {
                pages::denied_page(StatusCode::FORBIDDEN, "无权办理", &roles_only(roles))
            }
            other => {
                let problem = other.into_problem();
                pages::denied_page(problem.status_code(), &problem.title, &problem.detail)
            }
        }
    }
}

fn roles_only(roles: &[Role]) -> String {
    let needed: Vec<&str> = roles.iter().map(|r| r.label_zh()).collect();
    format!("此功能仅限{}使用。", needed.join("、"))
}

/// Whether the session cookie must be `Secure`: the deployment says the site
/// is served over HTTPS (`--secure-cookies` / `SSCARD_SECURE_COOKIES=1`, see
/// [`HttpConfig`]), or this request came through a TLS-terminating proxy
/// (`X-Forwarded-Proto: https`). Trusting the header is safe: it can only
/// make the cookie stricter.
pub fn secure_cookies(config: &HttpConfig, headers: &HeaderMap) -> bool {
    config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that opens a page session: HttpOnly (no script
/// reads it), SameSite=Strict (no other site sends it), for the whole site,
/// without an expiry (it goes when the browser closes; the server ends the
/// session after 30 minutes idle or 12 hours anyway).
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .unwrap_or_else(|_| clear_session_cookie(false))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "sscard_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static("sscard_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

/// The token of a request: `Authorization: Bearer …` or the session cookie.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "NOT_SIGNED_IN",
                "未登录或登录已失效",
                "请先登录。",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CitizenSession {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CitizenSession>()
            .cloned()
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "NOT_SIGNED_IN",
                    "未登录或登录已失效",
                    "请先以身份证号码和短信验证码登录。",
                )
            })
    }
}

/// Whoever a [`Access::CitizenOrRoles`] route let through.
#[derive(Clone, Debug)]
pub enum CallerSession {
    Citizen(CitizenSession),
    Staff(Session),
}

impl CallerSession {
    /// The caller as the case use cases see it.
    pub fn case_caller(&self) -> crate::service::cases::CaseCaller<'_> {
        match self {
            Self::Citizen(session) => {
                crate::service::cases::CaseCaller::Citizen(&session.principal)
            }
            Self::Staff(session) => crate::service::cases::CaseCaller::Staff(&session.principal),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerSession {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(Self::Staff(session.clone()));
        }
        parts
            .extensions
            .get::<CitizenSession>()
            .cloned()
            .map(Self::Citizen)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "NOT_SIGNED_IN",
                    "未登录或登录已失效",
                    "请先登录。",
                )
            })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The client behind trusted proxies (`super::client_address`).
        let address = super::client_address::client_address(&parts.extensions)
            .map_or_else(|| "-".to_owned(), |address| address.to_string());
        Ok(Client { address })
    }
}
