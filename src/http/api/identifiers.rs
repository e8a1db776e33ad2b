use axum::Json;

use crate::http::problem::{ApiJson, Problem};
use crate::service::identifiers::{IdentifierCheck, IdentifierFacts, check_identifiers};

/// 预审: checks identifiers before a form is submitted and reports every
/// problem at once. Nothing is stored or logged.
#[utoipa::path(post, path = "/api/v1/identifiers/check", tag = "identifiers",
    request_body = IdentifierCheck,
    responses(
        (status = 200, body = IdentifierFacts),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check(
    ApiJson(input): ApiJson<IdentifierCheck>,
) -> Result<Json<IdentifierFacts>, Problem> {
    let today = crate::clock::today_in_china();
    Ok(Json(check_identifiers(&input, today)?))
}
