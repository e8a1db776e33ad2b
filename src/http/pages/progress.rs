//! 办理进度查询 — the public progress page: application number, ID number
//! and name are posted (never in the URL); all three must match one case.
//! The same use case as `POST /api/v1/progress`, rate-limited alike.
//!
//! The page also reads the answer to an anonymous online question (互联网咨询)
//! by consultation number and access code, both posted
//! (`POST /progress/consultation`, the use case of
//! `POST /api/v1/consultations/lookup`, rate-limited alike).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::consultations::ConsultationLine;
use super::staff::Fields;
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::service::consultations::ConsultationLookup;
use crate::service::progress::{ProgressQuery, ProgressView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/progress", get(form).post(query))
        .route("/progress/consultation", post(consultation))
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
    /// The consultation number asked for, kept in its form.
    consultation_no: String,
    consultation_error: Option<String>,
    consultation: Option<ConsultationLine>,
}

impl ProgressPage {
    fn empty() -> Self {
        Self {
            application_no: String::new(),
            error: None,
            field_errors: Vec::new(),
            result: None,
            steps: Vec::new(),
            consultation_no: String::new(),
            consultation_error: None,
            consultation: None,
        }
    }
}

async fn form() -> Response {
    ProgressPage::empty().into_response()
}

/// 咨询答复查询: an anonymous question's answer by number and access code.
async fn consultation(State(state): State<AppState>, fields: Fields) -> Response {
    let lookup = ConsultationLookup {
        consultation_no: fields.get("consultation_no").to_owned(),
        access_code: fields.get("access_code").to_owned(),
    };
    let consultation_no: String = lookup.consultation_no.trim().chars().take(40).collect();
    match state.services.consultation_by_code(&lookup).await {
        Ok(view) => ProgressPage {
            consultation_no,
            consultation: Some(ConsultationLine::of(&view)),
            ..ProgressPage::empty()
        }
        .into_response(),
        Err(error) => {
            let problem = Problem::from(&error);
            let mut detail = problem.detail.clone();
            for e in &problem.errors {
                if !detail.contains(&e.message) {
                    detail.push_str(&e.message);
                }
            }
            // A wrong pair is an answer, not a failure of the page.
            let status = match problem.status_code() {
                StatusCode::NOT_FOUND => StatusCode::OK,
                other => other,
            };
            (
                status,
                ProgressPage {
                    consultation_no,
                    consultation_error: Some(detail),
                    ..ProgressPage::empty()
                },
            )
                .into_response()
        }
    }
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
                result: Some(view),
                steps,
                ..ProgressPage::empty()
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
                ..ProgressPage::empty()
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
