use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::problem::{ApiQuery, Problem};
use crate::service::audit_trail::{AUDIT_PAGE_SIZE, AuditQuery, AuditSearch};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// A username (that account's entries), or an actor as stored: `system`, `cli:<user>`.
    pub actor: Option<String>,
    /// An action code exactly, e.g. `account.create`.
    pub action: Option<String>,
    /// The beginning of the object, e.g. `account:`.
    pub object: Option<String>,
    /// `succeeded`, `refused` or `failed`.
    pub outcome: Option<String>,
    /// 1 (default) for the newest entries.
    pub page: Option<u32>,
    /// Entries per page, 1–200 (default 50).
    pub per_page: Option<u32>,
}

/// Search the audit trail, newest first (supervisors and admins). Details
/// hold masked values only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, body = AuditSearch),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditSearch>, Problem> {
    let query = AuditQuery {
        from: params.from,
        until: params.until,
        actor: params.actor,
        action: params.action,
        object_prefix: params.object,
        outcome: params.outcome,
        page: params.page.unwrap_or(1),
        per_page: params.per_page.unwrap_or(AUDIT_PAGE_SIZE),
    };
    Ok(Json(state.services.search_audit(&query).await?))
}
