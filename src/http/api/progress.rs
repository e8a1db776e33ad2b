//! 办理进度查询 over JSON: `POST /api/v1/progress` with the application
//! number, ID number and name in the body — never in the URL.

use axum::Json;
use axum::extract::State;

use crate::http::AppState;
use crate::http::problem::{ApiJson, Problem};
use crate::service::progress::{ProgressQuery, ProgressView};

/// The public progress query: all three must match one case; the answer
/// does not say which one did not. Rate-limited per client.
#[utoipa::path(post, path = "/api/v1/progress", tag = "applications",
    request_body = ProgressQuery,
    responses(
        (status = 200, body = ProgressView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "PROGRESS_NOT_FOUND"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "VALIDATION_FAILED"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "RATE_LIMITED"),
    ))]
pub async fn query(
    State(state): State<AppState>,
    ApiJson(query): ApiJson<ProgressQuery>,
) -> Result<Json<ProgressView>, Problem> {
    Ok(Json(state.services.query_progress(&query).await?))
}
