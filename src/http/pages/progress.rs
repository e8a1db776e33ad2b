//! 办理进度查询 — the public progress page: application number, ID number
//! and name are posted (never in the URL); all three must match one case.
//! The same use case as `POST /api/v1/progress`, rate-limited alike.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::staff::Fields;
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::service::progress::{ProgressQuery, ProgressView};

pub fn router() -> Router<AppState> {
    Router::new().route("/progress", get(form).post(query))
}

/// One done step, ready to show.
struct StepRow {
    time: String,
    action: String,
    state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "progress.html")]
struct ProgressPage {
    /// The number asked for (not personal), kept in the form.
    application_no: String,
    error: Option<String>,
    field_errors: Vec<String>,
    result: Option<ProgressView>,
    steps: Vec<StepRow>,
}

async fn form() -> Response {
    ProgressPage {
        application_no: String::new(),
        error: None,
        field_errors: Vec::new(),
        result: None,
        steps: Vec::new(),
    }
    .into_response()
}

async fn query(State(state): State<AppState>, fields: Fields) -> Response {
    let query = ProgressQuery {
        application_no: fields.get("application_no").to_owned(),
        id_number: fields.get("id_number").to_owned(),
        name: fields.get("name").to_owned(),
    };
    let application_no: String = query.application_no.trim().chars().take(40).collect();
    match state.services.query_progress(&query).await {
        Ok(view) => {
            let steps = view
                .steps_done
                .iter()
                .map(|s| StepRow {
                    time: to_china(s.occurred_at).format("%Y-%m-%d %H:%M").to_string(),
                    action: s.action_label.clone(),
                    state: s.to_state_label.clone(),
                })
                .collect();
            ProgressPage {
                application_no,
                error: None,
                field_errors: Vec::new(),
                result: Some(view),
                steps,
            }
            .into_response()
        }
        Err(error) => {
            let problem = Problem::from(&error);
            let status = problem.status_code();
            let page = ProgressPage {
                application_no,
                field_errors: problem.errors.iter().map(|e| e.message.clone()).collect(),
                error: Some(problem.detail),
                result: None,
                steps: Vec::new(),
            };
            // A wrong combination is an answer, not a failure of the page.
            let status = if status == StatusCode::NOT_FOUND {
                StatusCode::OK
            } else {
                status
            };
            (status, page).into_response()
        }
    }
}
