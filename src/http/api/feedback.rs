//! What happens after a case over JSON: the express delivery status (反馈岗),
//! the staff's audited look-up for phone and on-site queries, 好差评, and the
//! supervisors' ratings overview and 整改回访.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use sscard_domain::rating::FollowUpStep;

use crate::http::AppState;
use crate::http::auth::{CallerSession, Session};
use crate::http::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::cases::CaseView;
use crate::service::delivery::{CaseLookup, DeliveryStatusInput, LookupResult};
use crate::service::ratings::{
    FollowUpFilter, FollowUpInput, FollowUpView, RatingInput, RatingView, RatingsOverview,
};

/// Records what happened to a posted result (反馈岗): `signed` (已签收),
/// `returned` (退回, with the reason) or `resent` (重新寄出, with the new
/// carrier and waybill; the applicant gets a dispatch SMS). The change joins
/// the case's timeline and the progress query's delivery status.
#[utoipa::path(post, path = "/api/v1/applications/{application_no}/delivery-status", tag = "applications", security(("bearer" = [])),
    params(("application_no" = String, Path, example = "SQ-20261127-000001")),
    request_body = DeliveryStatusInput,
    responses(
        (status = 200, body = CaseView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "APPLICATION_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "DELIVERY_NOT_EXPRESS, DELIVERY_STATUS_CONFLICT"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "DELIVERY_CHANGE_INVALID, RETURN_REASON_REQUIRED, CARRIER_REQUIRED, WAYBILL_INVALID"),
    ))]
pub async fn delivery_status(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(application_no): ApiPath<String>,
    ApiJson(input): ApiJson<DeliveryStatusInput>,
) -> Result<Json<CaseView>, Problem> {
    Ok(Json(
        state
            .services
            .record_delivery_status(&session.principal, &application_no, &input, &client)
            .await?,
    ))
}

/// 电话查询、现场查询: finds cases by application number **or** the
/// applicant's ID number (in the body, never in the URL). Every look-up is
/// audited with who searched, what (masked) and how many cases were found.
#[utoipa::path(post, path = "/api/v1/applications/lookup", tag = "applications", security(("bearer" = [])),
    request_body = CaseLookup,
    responses(
        (status = 200, body = LookupResult),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "LOOKUP_QUERY_REQUIRED, ID_NUMBER_*"),
    ))]
pub async fn lookup(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(query): ApiJson<CaseLookup>,
) -> Result<Json<LookupResult>, Problem> {
    Ok(Json(
        state
            .services
            .look_up_cases(&session.principal, &query, &client)
            .await?,
    ))
}

/// 好差评: rates an ended case (已办结 or 不予受理) once, on five levels with an
/// optional comment (at most 300 characters) — the signed-in cardholder for
/// their own case, or a window clerk for the applicant at the window. A bad
/// rating (不满意, 非常不满意) opens a follow-up due in working days.
#[utoipa::path(post, path = "/api/v1/applications/{application_no}/rating", tag = "ratings", security(("bearer" = [])),
    params(("application_no" = String, Path, example = "SQ-20261127-000001")),
    request_body = RatingInput,
    responses(
        (status = 201, body = RatingView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "APPLICATION_NOT_FOUND (also another cardholder's case)"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CASE_NOT_ENDED, ALREADY_RATED"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "RATING_LEVEL_INVALID, COMMENT_TOO_LONG, COMMENT_INVALID"),
    ))]
pub async fn rate(
    State(state): State<AppState>,
    caller: CallerSession,
    client: Client,
    ApiPath(application_no): ApiPath<String>,
    ApiJson(input): ApiJson<RatingInput>,
) -> Result<(StatusCode, Json<RatingView>), Problem> {
    let view = state
        .services
        .rate_case(caller.case_caller(), &application_no, &input, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Query of `GET /api/v1/ratings`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RatingsQuery {
    /// First day (YYYY-MM-DD, China), inclusive; default 29 days before `until`.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; default today.
    pub until: Option<NaiveDate>,
}

/// The ratings of a period (supervisors): how many of each level and its
/// share, and the newest ratings with their comments and follow-ups.
#[utoipa::path(get, path = "/api/v1/ratings", tag = "ratings", security(("bearer" = [])),
    params(RatingsQuery),
    responses(
        (status = 200, body = RatingsOverview),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "PERIOD_INVALID"),
    ))]
pub async fn ratings(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RatingsQuery>,
) -> Result<Json<RatingsOverview>, Problem> {
    Ok(Json(
        state
            .services
            .ratings_overview(query.from, query.until)
            .await?,
    ))
}

/// Query of `GET /api/v1/follow-ups`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FollowUpsQuery {
    /// `open` (default: not closed), `overdue`, `closed` or `all`.
    pub status: Option<String>,
}

/// The follow-ups (整改回访) of bad ratings, the earliest due first.
#[utoipa::path(get, path = "/api/v1/follow-ups", tag = "ratings", security(("bearer" = [])),
    params(FollowUpsQuery),
    responses(
        (status = 200, body = Vec<FollowUpView>),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "FOLLOW_UP_FILTER_INVALID"),
    ))]
pub async fn follow_ups(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FollowUpsQuery>,
) -> Result<Json<Vec<FollowUpView>>, Problem> {
    let filter = match query.status.as_deref() {
        None => FollowUpFilter::Open,
        Some(code) => FollowUpFilter::from_code(code).ok_or_else(|| {
            let message = "状态须为 open（未办结）、overdue（已超期）、closed（已办结）或 all。";
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "FOLLOW_UP_FILTER_INVALID",
                "填写内容有误",
                message,
            )
            .with_errors(vec![FieldError::new(
                "status",
                "FOLLOW_UP_FILTER_INVALID",
                message,
            )])
        })?,
    };
    Ok(Json(state.services.follow_ups(filter).await?))
}

/// 整改回访 (supervisors): `rectification` (整改情况, `note` required),
/// `call-back` (回访, `result` satisfied / unsatisfied / unreachable and an
/// optional `note`), `close` (办结, after the call-back). The body is
/// optional for `close`.
#[utoipa::path(post, path = "/api/v1/follow-ups/{application_no}/{step}", tag = "ratings", security(("bearer" = [])),
    params(
        ("application_no" = String, Path, example = "SQ-20261127-000001"),
        ("step" = String, Path, description = "rectification | call-back | close"),
    ),
    request_body(content = Option<FollowUpInput>),
    responses(
        (status = 200, body = FollowUpView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "FOLLOW_UP_NOT_FOUND, STEP_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "FOLLOW_UP_STATE_CONFLICT"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "NOTE_REQUIRED, CALL_BACK_RESULT_REQUIRED, TEXT_INVALID"),
    ))]
pub async fn record_follow_up(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath((application_no, step)): ApiPath<(String, String)>,
    request: Request,
) -> Result<Json<FollowUpView>, Problem> {
    let step = FollowUpStep::from_code(&step).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "STEP_NOT_FOUND",
            "未找到",
            "没有这项登记。可用：rectification（整改情况）、call-back（回访结果）、close（办结）。",
        )
    })?;
    let input: FollowUpInput =
        crate::http::api::applications::optional_json(request, &state).await?;
    Ok(Json(
        state
            .services
            .record_follow_up(&session.principal, &application_no, step, &input, &client)
            .await?,
    ))
}
