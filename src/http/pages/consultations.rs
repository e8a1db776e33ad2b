//! 互联网咨询 — the pages: the public question form with the guide's FAQ
//! first (`/consult`; the number and the access code are shown once on the
//! answer page, never in a URL), the cardholder's own questions and answers
//! (`/my/consultations`), and the staff's queue and answer form on the
//! workbench (`/consultations`). Reading an anonymous answer is on the
//! progress page (`super::progress`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sscard_domain::consultation::{ConsultationStatus, MAX_ANSWER_CHARS, MAX_QUESTION_CHARS};
use sscard_domain::guide::Faq;

use super::citizen::CitizenNav;
use super::staff::{Fields, NoticeQuery, StaffNav, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::{CitizenSession, Session};
use crate::http::problem::Problem;
use crate::service::ServiceError;
use crate::service::accounts::Client;
use crate::service::consultations::{
    AnswerInput, AskedConsultation, Asker, ConsultationView, QuestionInput,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/consult", get(public_form).post(public_ask))
        .route("/my/consultations", get(my_page).post(my_ask))
        .route("/consultations", get(queue))
        .route("/consultations/{consultation_no}", get(one))
        .route("/consultations/{consultation_no}/answer", post(answer))
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    to_china(at).format("%Y-%m-%d %H:%M").to_string()
}

/// One consultation, ready to show (text escaped by the template).
pub struct ConsultationLine {
    pub consultation_no: String,
    pub question: String,
    pub asked_at: String,
    pub asked_via: String,
    pub status: String,
    pub status_label: String,
    pub answer: Option<String>,
    pub answered_at: String,
    pub answered_by: String,
}

impl ConsultationLine {
    pub fn of(view: &ConsultationView) -> Self {
        Self {
            consultation_no: view.consultation_no.clone(),
            question: view.question.clone(),
            asked_at: time(view.asked_at),
            asked_via: view.asked_via.clone().unwrap_or_default(),
            status: view.status.code().to_owned(),
            status_label: view.status_label.clone(),
            answer: view.answer.clone(),
            answered_at: view.answered_at.map(time).unwrap_or_default(),
            answered_by: view.answered_by.clone().unwrap_or_default(),
        }
    }
}

/// What went wrong with a posted text.
fn error_of(error: &ServiceError) -> (StatusCode, String) {
    let problem = Problem::from(error);
    let detail = problem
        .errors
        .first()
        .map_or_else(|| problem.detail.clone(), |e| e.message.clone());
    (problem.status_code(), detail)
}

async fn faq(state: &AppState) -> Result<Vec<Faq>, ServiceError> {
    Ok(state.services.current_guide().await?.guide.faq)
}

// ---------------------------------------------------------------------------
// The public form

#[derive(Template, WebTemplate)]
#[template(path = "consult.html")]
struct ConsultPage {
    faq: Vec<Faq>,
    question: String,
    error: Option<String>,
    asked: Option<AskedConsultation>,
    max_chars: usize,
}

async fn public_form(State(state): State<AppState>) -> Response {
    match faq(&state).await {
        Ok(faq) => ConsultPage {
            faq,
            question: String::new(),
            error: None,
            asked: None,
            max_chars: MAX_QUESTION_CHARS,
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

/// The number and the access code are shown on this answer only (never in
/// a URL); the page is not cached (`no-store`, the default of every page).
async fn public_ask(State(state): State<AppState>, client: Client, fields: Fields) -> Response {
    let faq = match faq(&state).await {
        Ok(faq) => faq,
        Err(error) => return service_error_page(&error),
    };
    let input = QuestionInput {
        question: fields.get("question").to_owned(),
    };
    match state
        .services
        .ask_question(Asker::Anonymous, &input, &client)
        .await
    {
        Ok(asked) => ConsultPage {
            faq,
            question: String::new(),
            error: None,
            asked: Some(asked),
            max_chars: MAX_QUESTION_CHARS,
        }
        .into_response(),
        Err(error) => {
            let (status, detail) = error_of(&error);
            (
                status,
                ConsultPage {
                    faq,
                    question: input.question,
                    error: Some(detail),
                    asked: None,
                    max_chars: MAX_QUESTION_CHARS,
                },
            )
                .into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// The cardholder's questions

#[derive(Template, WebTemplate)]
#[template(path = "citizen_consultations.html")]
struct MyPage {
    citizen: CitizenNav,
    notice: Option<&'static str>,
    faq: Vec<Faq>,
    question: String,
    error: Option<String>,
    consultations: Vec<ConsultationLine>,
    max_chars: usize,
}

async fn my_page_of(
    state: &AppState,
    session: &CitizenSession,
    notice: Option<&'static str>,
) -> Result<MyPage, ServiceError> {
    let consultations = state
        .services
        .my_consultations(&session.principal)
        .await?
        .iter()
        .map(ConsultationLine::of)
        .collect();
    Ok(MyPage {
        citizen: CitizenNav::of(session),
        notice,
        faq: faq(state).await?,
        question: String::new(),
        error: None,
        consultations,
        max_chars: MAX_QUESTION_CHARS,
    })
}

async fn my_page(
    State(state): State<AppState>,
    session: CitizenSession,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = match query.notice.as_deref() {
        Some("asked") => Some("您的咨询已提交。工作人员答复后，答复会显示在本页。"),
        _ => None,
    };
    match my_page_of(&state, &session, notice).await {
        Ok(page) => page.into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn my_ask(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    fields: Fields,
) -> Response {
    let input = QuestionInput {
        question: fields.get("question").to_owned(),
    };
    match state
        .services
        .ask_question(Asker::Citizen(&session.principal), &input, &client)
        .await
    {
        Ok(_) => see_other("/my/consultations?notice=asked"),
        Err(error) => {
            let (status, detail) = error_of(&error);
            match my_page_of(&state, &session, None).await {
                Ok(mut page) => {
                    page.question = input.question;
                    page.error = Some(detail);
                    (status, page).into_response()
                }
                Err(error) => service_error_page(&error),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The staff's queue

#[derive(Template, WebTemplate)]
#[template(path = "consultations.html")]
struct QueuePage {
    staff: StaffNav,
    open: Vec<ConsultationLine>,
    answered: Vec<ConsultationLine>,
}

async fn queue(State(state): State<AppState>, session: Session) -> Response {
    let open = match state
        .services
        .consultation_queue(ConsultationStatus::Open, 200)
        .await
    {
        Ok(list) => list,
        Err(error) => return service_error_page(&error),
    };
    let answered = match state
        .services
        .consultation_queue(ConsultationStatus::Answered, 50)
        .await
    {
        Ok(list) => list,
        Err(error) => return service_error_page(&error),
    };
    QueuePage {
        staff: StaffNav::of(&session.principal),
        open: open.iter().map(ConsultationLine::of).collect(),
        answered: answered.iter().map(ConsultationLine::of).collect(),
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "consultation.html")]
struct OnePage {
    staff: StaffNav,
    notice: Option<&'static str>,
    consultation: ConsultationLine,
    answer: String,
    error: Option<String>,
    max_chars: usize,
}

async fn one(
    State(state): State<AppState>,
    session: Session,
    Path(consultation_no): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = match query.notice.as_deref() {
        Some("answered") => Some("已答复。提问人可在网上办事账户或进度查询页面看到答复。"),
        _ => None,
    };
    match state
        .services
        .consultation_for_staff(&consultation_no)
        .await
    {
        Ok(view) => OnePage {
            staff: StaffNav::of(&session.principal),
            notice,
            consultation: ConsultationLine::of(&view),
            answer: String::new(),
            error: None,
            max_chars: MAX_ANSWER_CHARS,
        }
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn answer(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path(consultation_no): Path<String>,
    fields: Fields,
) -> Response {
    let input = AnswerInput {
        answer: fields.get("answer").to_owned(),
    };
    let error = match state
        .services
        .answer_consultation(&session.principal, &consultation_no, &input, &client)
        .await
    {
        Ok(view) => {
            return see_other(&format!(
                "/consultations/{}?notice=answered",
                view.consultation_no
            ));
        }
        Err(error) => error,
    };
    if matches!(error, ServiceError::NotFound { .. }) {
        return service_error_page(&error);
    }
    let (status, detail) = error_of(&error);
    match state
        .services
        .consultation_for_staff(&consultation_no)
        .await
    {
        Ok(view) => (
            status,
            OnePage {
                staff: StaffNav::of(&session.principal),
                notice: None,
                consultation: ConsultationLine::of(&view),
                answer: input.answer,
                error: Some(detail),
                max_chars: MAX_ANSWER_CHARS,
            },
        )
            .into_response(),
        Err(error) => service_error_page(&error),
    }
}
