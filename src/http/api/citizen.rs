//! Citizen sign-in by SMS one-time code, the citizen session, and the
//! simulated SMS gateway's outbox for administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::auth::{CitizenSession, Session};
use crate::http::problem::{ApiJson, Problem};
use crate::service::accounts::Client;
use crate::service::sms::OutboxMessage;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpRequest {
    /// 身份证号码 (社会保障号码); full-width digits and a lower-case x are accepted.
    #[schema(example = "450221199001011234")]
    pub id_number: String,
    /// 姓名, exactly as registered.
    #[schema(example = "张三")]
    pub name: String,
}

impl std::fmt::Debug for OtpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpRequest { .. }")
    }
}

/// The same answer whoever was named (it does not tell whether a person is
/// registered).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OtpRequested {
    /// What happens now, in Chinese.
    pub message: String,
    /// How long a code is valid, in seconds (300).
    pub expires_in_seconds: u64,
    /// How long to wait before asking again, in seconds (60).
    pub resend_after_seconds: u64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenSignInRequest {
    #[schema(example = "450221199001011234")]
    pub id_number: String,
    #[schema(example = "张三")]
    pub name: String,
    /// The 6-digit code from the SMS.
    #[schema(example = "123456")]
    pub code: String,
}

impl std::fmt::Debug for CitizenSignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CitizenSignInRequest { .. }")
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CitizenSignInResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once. Starts with `c_`.
    pub token: String,
    /// The latest end of the session (2 hours); it also ends after 15 minutes without a request.
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CitizenSessionInfo {
    /// The name exactly as registered.
    pub name: String,
    /// e.g. `450221********1234`.
    pub id_number_masked: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SmsOutbox {
    /// The last day's messages, newest first (at most 100).
    pub messages: Vec<OutboxMessage>,
}

/// Ask for a one-time sign-in code by SMS to the mobile number on record.
///
/// Answers 202 with the same message whether or not the ID number is
/// registered and the name matches; a code is sent only when they do and a
/// mobile number is on record. One code a minute and five an hour per
/// person (silently); too many requests from one network answer 429.
#[utoipa::path(post, path = "/api/v1/citizen/otp", tag = "citizen",
    request_body = OtpRequest,
    responses(
        (status = 202, body = OtpRequested),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json",
            description = "`OTP_RATE_LIMITED`: too many requests from this client address"),
        (status = 502, body = Problem, content_type = "application/problem+json",
            description = "`SMS_SEND_FAILED`: the SMS provider did not take the message; no code is valid"),
    ))]
pub async fn request_otp(
    State(state): State<AppState>,
    client: Client,
    ApiJson(request): ApiJson<OtpRequest>,
) -> Result<(StatusCode, Json<OtpRequested>), Problem> {
    let answer = state
        .services
        .request_otp(&request.id_number, &request.name, &client)
        .await
        .inspect(|_| crate::http::metrics::otp_request(true))
        .inspect_err(|_| crate::http::metrics::otp_request(false))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(OtpRequested {
            message: answer.message.to_owned(),
            expires_in_seconds: answer.expires_in_seconds,
            resend_after_seconds: answer.resend_after_seconds,
        }),
    ))
}

/// Citizen sign-in with ID number, name and the code from the SMS.
///
/// A code works once, for 5 minutes, and dies after 5 wrong tries; every
/// wrong combination answers 401 `OTP_INVALID`.
#[utoipa::path(post, path = "/api/v1/citizen/session", tag = "citizen",
    request_body = CitizenSignInRequest,
    responses(
        (status = 201, body = CitizenSignInResponse),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "`OTP_INVALID`"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    ApiJson(request): ApiJson<CitizenSignInRequest>,
) -> Result<(StatusCode, Json<CitizenSignInResponse>), Problem> {
    let signed_in = state
        .services
        .sign_in_citizen(&request.id_number, &request.name, &request.code, &client)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CitizenSignInResponse {
            token: signed_in.token,
            expires_at: signed_in.expires_at,
        }),
    ))
}

/// The signed-in citizen.
#[utoipa::path(get, path = "/api/v1/citizen/session", tag = "citizen", security(("bearer" = [])),
    responses(
        (status = 200, body = CitizenSessionInfo),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "a staff token"),
    ))]
pub async fn current(session: CitizenSession) -> Json<CitizenSessionInfo> {
    let principal = session.principal;
    Json(CitizenSessionInfo {
        name: principal.name,
        id_number_masked: principal.id_number_masked,
        expires_at: principal.session_expires_at,
    })
}

/// Citizen sign-out: the session ends at once.
#[utoipa::path(delete, path = "/api/v1/citizen/session", tag = "citizen", security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
) -> Result<StatusCode, Problem> {
    state
        .services
        .sign_out_citizen(&session.token, &session.principal, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The simulated SMS gateway's outbox (demo installations without an SMS
/// provider): the last day's messages with masked numbers and full text.
/// Every reading is audited. 404 `SMS_OUTBOX_DISABLED` when a real SMS
/// provider is configured.
#[utoipa::path(get, path = "/api/v1/admin/sms-outbox", tag = "sms", security(("bearer" = [])),
    responses(
        (status = 200, body = SmsOutbox),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "`SMS_OUTBOX_DISABLED`"),
    ))]
pub async fn sms_outbox(
    State(state): State<AppState>,
    session: Session,
    client: Client,
) -> Result<Json<SmsOutbox>, Problem> {
    let messages = state
        .services
        .sms_outbox(&session.principal.actor(&client))
        .await?;
    Ok(Json(SmsOutbox { messages }))
}
