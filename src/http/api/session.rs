use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sscard_domain::access::Role;

use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::{ApiJson, Problem};
use crate::service::accounts::{Channel, Client, SignInAttempt};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    /// The current 6-digit TOTP code; required for admin and supervisor accounts.
    pub totp: Option<String>,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub roles: Vec<Role>,
    /// The initial password must be changed before anything else.
    pub must_change_password: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employer_uscc: Option<String>,
    pub must_change_password: bool,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

/// Staff, bank and employer sign-in: a bearer token for API clients.
#[utoipa::path(post, path = "/api/v1/session", tag = "session",
    request_body = SignInRequest,
    responses(
        (status = 201, body = SignInResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<(StatusCode, Json<SignInResponse>), Problem> {
    let signed_in = state
        .services
        .sign_in(
            &SignInAttempt {
                username: &request.username,
                password: &request.password,
                totp: request.totp.as_deref(),
            },
            &client,
            Channel::Api,
        )
        .await
        .inspect(|_| crate::http::metrics::sign_in(true))
        .inspect_err(|_| crate::http::metrics::sign_in(false))?;
    Ok((
        StatusCode::CREATED,
        Json(SignInResponse {
            token: signed_in.token,
            expires_at: signed_in.expires_at,
            roles: signed_in.principal.roles.iter().collect(),
            must_change_password: signed_in.principal.must_change_password,
        }),
    ))
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/session", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = SessionInfo), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn current(session: Session) -> Json<SessionInfo> {
    let principal = session.principal;
    Json(SessionInfo {
        username: principal.username,
        display_name: principal.display_name,
        roles: principal.roles.iter().collect(),
        bank_code: principal.bank_code,
        employer_uscc: principal.employer_uscc,
        must_change_password: principal.must_change_password,
        expires_at: principal.session_expires_at,
    })
}

/// Sign out: the session ends at once.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    client: Client,
) -> Result<StatusCode, Problem> {
    state
        .services
        .sign_out(&session.token, &session.principal, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password (required after the first sign-in); other sessions end.
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session", security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, Problem> {
    state
        .services
        .change_password(
            &session.principal,
            &request.current_password,
            &request.new_password,
            &session.token,
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
