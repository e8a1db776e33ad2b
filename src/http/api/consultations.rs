//! 互联网咨询 over JSON: asking (anyone, rate-limited, or a signed-in
//! cardholder), reading the answer (by number and access code, or in the
//! cardholder's account), and the staff's queue and answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use sscard_domain::consultation::ConsultationStatus;

use crate::http::AppState;
use crate::http::auth::{CitizenSession, Session};
use crate::http::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::consultations::{
    AnswerInput, AskedConsultation, Asker, ConsultationLookup, ConsultationView, QuestionInput,
};

/// 互联网咨询: asks a question about the item without signing in. The
/// answer gives the consultation number and a random access code, shown
/// once: both are needed to read the answer (`POST
/// /api/v1/consultations/lookup` or the progress page). Rate-limited.
#[utoipa::path(post, path = "/api/v1/consultations", tag = "consultations",
    request_body = QuestionInput,
    responses(
        (status = 201, body = AskedConsultation),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "TEXT_TOO_SHORT, TEXT_TOO_LONG, TEXT_INVALID"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "RATE_LIMITED"),
    ))]
pub async fn ask(
    State(state): State<AppState>,
    client: Client,
    ApiJson(input): ApiJson<QuestionInput>,
) -> Result<(StatusCode, Json<AskedConsultation>), Problem> {
    let asked = state
        .services
        .ask_question(Asker::Anonymous, &input, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(asked)))
}

/// Reads an anonymous question and its answer by consultation number and
/// access code (in the body). Every wrong pair gets the same `404`.
/// Rate-limited.
#[utoipa::path(post, path = "/api/v1/consultations/lookup", tag = "consultations",
    request_body = ConsultationLookup,
    responses(
        (status = 200, body = ConsultationView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CONSULTATION_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "CONSULTATION_NO_REQUIRED, ACCESS_CODE_REQUIRED"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "RATE_LIMITED"),
    ))]
pub async fn lookup(
    State(state): State<AppState>,
    ApiJson(lookup): ApiJson<ConsultationLookup>,
) -> Result<Json<ConsultationView>, Problem> {
    Ok(Json(state.services.consultation_by_code(&lookup).await?))
}

/// A signed-in cardholder asks; the question and its answer stay in their
/// account (no access code).
#[utoipa::path(post, path = "/api/v1/citizen/consultations", tag = "consultations", security(("bearer" = [])),
    request_body = QuestionInput,
    responses(
        (status = 201, body = AskedConsultation),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "TEXT_TOO_SHORT, TEXT_TOO_LONG, TEXT_INVALID"),
    ))]
pub async fn citizen_ask(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    ApiJson(input): ApiJson<QuestionInput>,
) -> Result<(StatusCode, Json<AskedConsultation>), Problem> {
    let asked = state
        .services
        .ask_question(Asker::Citizen(&session.principal), &input, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(asked)))
}

/// The signed-in cardholder's own questions and their answers, newest first.
#[utoipa::path(get, path = "/api/v1/citizen/consultations", tag = "consultations", security(("bearer" = [])),
    responses((status = 200, body = Vec<ConsultationView>)))]
pub async fn citizen_list(
    State(state): State<AppState>,
    session: CitizenSession,
) -> Result<Json<Vec<ConsultationView>>, Problem> {
    Ok(Json(
        state.services.my_consultations(&session.principal).await?,
    ))
}

/// Query of `GET /api/v1/consultations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// `open` (待答复, default, oldest first) or `answered` (newest first).
    pub status: Option<String>,
}

/// The staff's queue of questions.
#[utoipa::path(get, path = "/api/v1/consultations", tag = "consultations", security(("bearer" = [])),
    params(QueueQuery),
    responses(
        (status = 200, body = Vec<ConsultationView>),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "STATUS_INVALID"),
    ))]
pub async fn queue(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> Result<Json<Vec<ConsultationView>>, Problem> {
    let status = match query.status.as_deref() {
        None => ConsultationStatus::Open,
        Some(code) => ConsultationStatus::from_code(code).ok_or_else(|| {
            let message = "状态须为 open（待答复）或 answered（已答复）。";
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "STATUS_INVALID",
                "填写内容有误",
                message,
            )
            .with_errors(vec![FieldError::new("status", "STATUS_INVALID", message)])
        })?,
    };
    Ok(Json(state.services.consultation_queue(status, 300).await?))
}

/// One question with its answer (staff).
#[utoipa::path(get, path = "/api/v1/consultations/{consultation_no}", tag = "consultations", security(("bearer" = [])),
    params(("consultation_no" = String, Path, example = "ZX-20261127-000001")),
    responses(
        (status = 200, body = ConsultationView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CONSULTATION_NOT_FOUND"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(consultation_no): ApiPath<String>,
) -> Result<Json<ConsultationView>, Problem> {
    Ok(Json(
        state
            .services
            .consultation_for_staff(&consultation_no)
            .await?,
    ))
}

/// 答复: answers a question, once; audited.
#[utoipa::path(post, path = "/api/v1/consultations/{consultation_no}/answer", tag = "consultations", security(("bearer" = [])),
    params(("consultation_no" = String, Path, example = "ZX-20261127-000001")),
    request_body = AnswerInput,
    responses(
        (status = 200, body = ConsultationView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "CONSULTATION_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "ALREADY_ANSWERED"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "TEXT_TOO_SHORT, TEXT_TOO_LONG, TEXT_INVALID"),
    ))]
pub async fn answer(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(consultation_no): ApiPath<String>,
    ApiJson(input): ApiJson<AnswerInput>,
) -> Result<Json<ConsultationView>, Problem> {
    Ok(Json(
        state
            .services
            .answer_consultation(&session.principal, &consultation_no, &input, &client)
            .await?,
    ))
}
