//! 好差评 — the supervisors' page: the ratings of a period with the share of
//! each level, the open and overdue follow-ups (整改回访) with a form for the
//! rectification, the call-back and closing, and the closed ones.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;
use sscard_domain::access::Role;
use sscard_domain::rating::{CallBackResult, FollowUpStep};

use super::not_found_page;
use super::staff::{Fields, StaffNav, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::Problem;
use crate::service::ServiceError;
use crate::service::accounts::Client;
use crate::service::ratings::{
    FollowUpFilter, FollowUpInput, FollowUpView, RatingView, RatingsOverview,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ratings", get(page))
        .route("/ratings/follow-ups/{application_no}/{step}", post(record))
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    to_china(at).format("%Y-%m-%d %H:%M").to_string()
}

struct RatingLine {
    application_no: String,
    level: String,
    level_label: String,
    bad: bool,
    comment: Option<String>,
    channel: String,
    rated_at: String,
    follow_up: Option<String>,
}

impl RatingLine {
    fn of(view: &RatingView) -> Self {
        Self {
            application_no: view.application_no.clone(),
            level: view.level.code().to_owned(),
            level_label: view.level_label.clone(),
            bad: view.level.is_bad(),
            comment: view.comment.clone(),
            channel: view.channel_label.clone(),
            rated_at: time(view.rated_at),
            follow_up: view.follow_up.as_ref().map(|f| {
                format!(
                    "{}（{} 前{}）",
                    f.status_label,
                    f.due_on,
                    if f.overdue { "，已超期" } else { "" }
                )
            }),
        }
    }
}

struct RecordLine {
    step: String,
    note: Option<String>,
    result: Option<String>,
    by: String,
    at: String,
}

struct FollowUpCard {
    application_no: String,
    level_label: String,
    comment: Option<String>,
    rated_at: String,
    channel: String,
    status: String,
    status_label: String,
    due_on: String,
    due_provisional: bool,
    overdue: bool,
    closed_at: Option<String>,
    records: Vec<RecordLine>,
    can_rectify: bool,
    can_call_back: bool,
    can_close: bool,
    /// The form that failed and why, with what was typed.
    error: Option<(String, String)>,
    note: String,
}

impl FollowUpCard {
    fn of(view: &FollowUpView, may_record: bool) -> Self {
        let allowed =
            |step: FollowUpStep| may_record && view.allowed_steps.iter().any(|s| s == step.code());
        Self {
            application_no: view.application_no.clone(),
            level_label: view.level_label.clone(),
            comment: view.comment.clone(),
            rated_at: time(view.rated_at),
            channel: view.rating_channel_label.clone(),
            status: view.status.clone(),
            status_label: view.status_label.clone(),
            due_on: view.due_on.to_string(),
            due_provisional: view.due_provisional,
            overdue: view.overdue,
            closed_at: view.closed_at.map(time),
            records: view
                .records
                .iter()
                .map(|r| RecordLine {
                    step: r.step_label.clone(),
                    note: r.note.clone(),
                    result: r.result_label.clone(),
                    by: r.actor_name.clone(),
                    at: time(r.occurred_at),
                })
                .collect(),
            can_rectify: allowed(FollowUpStep::Rectification),
            can_call_back: allowed(FollowUpStep::CallBack),
            can_close: allowed(FollowUpStep::Close),
            error: None,
            note: String::new(),
        }
    }
}

struct ShareLine {
    level: String,
    label: String,
    count: u64,
    percent: String,
}

struct ResultChoice {
    value: &'static str,
    label: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "ratings.html")]
struct RatingsPage {
    staff: StaffNav,
    notice: Option<&'static str>,
    from: String,
    until: String,
    total: u64,
    shares: Vec<ShareLine>,
    ratings: Vec<RatingLine>,
    open: Vec<FollowUpCard>,
    closed: Vec<FollowUpCard>,
    overdue_count: usize,
    may_record: bool,
    results: Vec<ResultChoice>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    from: Option<String>,
    until: Option<String>,
    notice: Option<String>,
}

fn day(text: Option<&str>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
}

async fn build(
    state: &AppState,
    session: &Session,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Result<RatingsPage, ServiceError> {
    let (overview, error) = match state.services.ratings_overview(from, until).await {
        Ok(overview) => (overview, None),
        Err(error @ ServiceError::Invalid { .. }) => (
            state.services.ratings_overview(None, None).await?,
            Some(Problem::from(&error).detail),
        ),
        Err(error) => return Err(error),
    };
    let RatingsOverview {
        from,
        until,
        total,
        shares,
        ratings,
    } = overview;
    let may_record = session.principal.has_role(Role::Supervisor);
    let open: Vec<FollowUpCard> = state
        .services
        .follow_ups(FollowUpFilter::Open)
        .await?
        .iter()
        .map(|f| FollowUpCard::of(f, may_record))
        .collect();
    let closed = state
        .services
        .follow_ups(FollowUpFilter::Closed)
        .await?
        .iter()
        .take(50)
        .map(|f| FollowUpCard::of(f, false))
        .collect();
    Ok(RatingsPage {
        staff: StaffNav::of(&session.principal),
        notice: None,
        from: from.to_string(),
        until: until.to_string(),
        total,
        shares: shares
            .iter()
            .map(|s| ShareLine {
                level: s.level.code().to_owned(),
                label: s.level_label.clone(),
                count: s.count,
                percent: s.percent.clone(),
            })
            .collect(),
        ratings: ratings.iter().map(RatingLine::of).collect(),
        overdue_count: open.iter().filter(|f| f.overdue).count(),
        open,
        closed,
        may_record,
        results: CallBackResult::ALL
            .into_iter()
            .map(|r| ResultChoice {
                value: r.code(),
                label: r.label_zh(),
            })
            .collect(),
        error,
    })
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<PageQuery>,
) -> Response {
    match build(
        &state,
        &session,
        day(query.from.as_deref()),
        day(query.until.as_deref()),
    )
    .await
    {
        Ok(mut page) => {
            page.notice = match query.notice.as_deref() {
                Some("rectification") => Some("已登记整改情况。"),
                Some("call-back") => Some("已登记回访结果。"),
                Some("close") => Some("整改回访已办结。"),
                _ => None,
            };
            page.into_response()
        }
        Err(error) => service_error_page(&error),
    }
}

async fn record(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path((application_no, step)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let Some(step) = FollowUpStep::from_code(&step) else {
        return not_found_page();
    };
    let input = FollowUpInput {
        note: fields.optional("note"),
        result: fields.optional("result"),
    };
    let error = match state
        .services
        .record_follow_up(&session.principal, &application_no, step, &input, &client)
        .await
    {
        Ok(view) => {
            return see_other(&format!(
                "/ratings?notice={}#follow-up-{}",
                step.code(),
                view.application_no
            ));
        }
        Err(error) => error,
    };
    if matches!(error, ServiceError::NotFound { .. }) {
        return service_error_page(&error);
    }
    let mut page = match build(&state, &session, None, None).await {
        Ok(page) => page,
        Err(error) => return service_error_page(&error),
    };
    let problem = Problem::from(&error);
    let message = problem
        .errors
        .first()
        .map_or_else(|| problem.detail.clone(), |e| e.message.clone());
    match page
        .open
        .iter_mut()
        .find(|f| f.application_no == application_no)
    {
        Some(card) => {
            card.error = Some((step.code().to_owned(), message));
            card.note = fields.get("note").to_owned();
        }
        None => page.error = Some(message),
    }
    (problem.status_code(), page).into_response()
}
