//! Server-rendered Chinese pages. They call the same services as the API.

mod admin;
mod audit;
mod bank;
mod batches;
mod cases;
mod citizen;
mod consultations;
mod progress;
mod ratings;
mod registry;
mod slips;
pub mod staff;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sscard_domain::guide::Guide;

use super::AppState;
use super::problem::Problem;
use crate::clock::to_china;
use crate::service::ServiceError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(guide_page))
        .route("/static/style.css", get(stylesheet))
        .merge(staff::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(registry::router())
        .merge(bank::router())
        .merge(progress::router())
        .merge(cases::router())
        .merge(batches::router())
        .merge(citizen::router())
        .merge(consultations::router())
        .merge(ratings::router())
        .merge(slips::router())
}

const STYLESHEET: &str = include_str!("../../../static/style.css");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// 办事指南 — the public guide page.
#[derive(Template, WebTemplate)]
#[template(path = "guide.html")]
struct GuidePage {
    guide: Guide,
    published_on: String,
}

async fn guide_page(State(state): State<AppState>) -> Response {
    match state.services.current_guide().await {
        Ok(published) => GuidePage {
            published_on: to_china(published.published_at)
                .format("%Y年%m月%d日")
                .to_string(),
            guide: published.guide,
        }
        .into_response(),
        Err(error) => error_page(&error),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "not_found.html")]
struct NotFoundPage;

pub fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, NotFoundPage).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    detail: String,
}

/// A service failure as a page: the same message the API would give.
fn error_page(error: &ServiceError) -> Response {
    let problem = Problem::from(error);
    (
        problem.status_code(),
        ErrorPage {
            title: problem.title,
            detail: problem.detail,
        },
    )
        .into_response()
}
