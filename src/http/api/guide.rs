use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sscard_domain::guide::Guide;

use crate::http::AppState;
use crate::http::problem::{ApiPath, Problem};
use crate::service::guide::{GuideVersionSummary, PublishedGuide};

/// A published guide version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GuideResponse {
    #[serde(flatten)]
    pub guide: Guide,
    /// When this version was published.
    pub published_at: DateTime<Utc>,
}

impl From<PublishedGuide> for GuideResponse {
    fn from(published: PublishedGuide) -> Self {
        Self {
            guide: published.guide,
            published_at: published.published_at,
        }
    }
}

/// The current service guide (办事指南).
#[utoipa::path(get, path = "/api/v1/guide", tag = "guide", responses(
    (status = 200, body = GuideResponse),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn current(State(state): State<AppState>) -> Result<Json<GuideResponse>, Problem> {
    Ok(Json(state.services.current_guide().await?.into()))
}

/// Every published version, oldest first.
#[utoipa::path(get, path = "/api/v1/guide/versions", tag = "guide", responses(
    (status = 200, body = Vec<GuideVersionSummary>),
))]
pub async fn versions(
    State(state): State<AppState>,
) -> Result<Json<Vec<GuideVersionSummary>>, Problem> {
    Ok(Json(state.services.guide_versions().await?))
}

/// One published version, unchanged since it was published.
#[utoipa::path(get, path = "/api/v1/guide/versions/{version}", tag = "guide",
    params(("version" = u32, Path, description = "事项版本号, e.g. 44")),
    responses(
        (status = 200, body = GuideResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn version(
    State(state): State<AppState>,
    ApiPath(version): ApiPath<u32>,
) -> Result<Json<GuideResponse>, Problem> {
    Ok(Json(state.services.guide_version(version).await?.into()))
}
