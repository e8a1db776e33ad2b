//! Authorization, decided in one place: every route has a rule in [`rule`],
//! a route without one is denied, and a test walks every route against every
//! role. The middleware authenticates the session (bearer token or cookie),
//! applies the rule and hands the principal to the handler.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sscard_domain::access::Role;

use super::AppState;
use super::problem::Problem;
use crate::service::accounts::{Client, Principal};

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
}

const ADMIN: &[Role] = &[Role::Admin];

/// The rule of a route, by method and route template; `None` = no rule,
/// which the middleware answers with a denial.
pub fn rule(method: &Method, route: &str) -> Option<Access> {
    use Access::{AnyAccount, Public, Roles};
    let get = *method == Method::GET || *method == Method::HEAD;
    let access = match (method.as_str(), route) {
        (_, route) if get && is_public_read(route) => Public,
        ("POST", "/api/v1/identifiers/check" | "/api/v1/session") => Public,
        ("GET" | "DELETE", "/api/v1/session") | ("POST", "/api/v1/session/password") => AnyAccount,
        ("GET" | "POST", "/api/v1/accounts")
        | ("POST", "/api/v1/accounts/{username}/disable" | "/api/v1/accounts/{username}/enable") => {
            Roles(ADMIN)
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
            | "/static/style.css"
            | "/api/openapi.json"
            | "/api/docs"
            | "/api/v1/guide"
            | "/api/v1/guide/versions"
            | "/api/v1/guide/versions/{version}"
            | "/api/v1/calendar/deadline"
            | "/api/v1/calendar/years"
            | "/api/v1/calendar/years/{year}"
    ) || route.starts_with("/api/docs/")
}

/// The session behind an authenticated request.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    /// The bearer token or cookie value, to end or keep this session.
    pub token: String,
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
    let Some(access) = rule(request.method(), &route) else {
        tracing::error!(route, method = %request.method(), "route without an access rule: denied");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "ACCESS_DENIED",
            "无权办理",
            "此功能未开放。",
        )
        .into_response();
    };
    if access == Access::Public {
        return next.run(request).await;
    }
    let Some(token) = session_token(request.headers()) else {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "NOT_SIGNED_IN",
            "未登录或登录已失效",
            "请先登录（Authorization: Bearer <token>，令牌由 POST /api/v1/session 取得）。",
        )
        .into_response();
    };
    let principal = match state.services.authenticate(&token).await {
        Ok(principal) => principal,
        Err(error) => return Problem::from(error).into_response(),
    };
    if let Access::Roles(roles) = access {
        if principal.must_change_password {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "PASSWORD_CHANGE_REQUIRED",
                "请先修改初始密码",
                "首次登录须先修改初始密码（POST /api/v1/session/password），再办理业务。",
            )
            .into_response();
        }
        if !roles.iter().any(|role| principal.has_role(*role)) {
            let needed: Vec<&str> = roles.iter().map(|r| r.label_zh()).collect();
            return Problem::new(
                StatusCode::FORBIDDEN,
                "ROLE_NOT_PERMITTED",
                "无权办理",
                format!("此功能仅限{}使用。", needed.join("、")),
            )
            .into_response();
        }
    }
    request
        .extensions_mut()
        .insert(Session { principal, token });
    next.run(request).await
}

/// The token of a request: `Authorization: Bearer …` or the session cookie.
fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
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

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "-".to_owned(), |ConnectInfo(addr)| addr.ip().to_string());
        Ok(Client { address })
    }
}
