//! 单位批量启用 as pages: the employer's page (template, upload, its
//! batches with live progress bars, the result), and the staff's batch
//! queues and batch page with the steps 受理 and 反馈. The bars are moved by
//! `static/batch.js`, which polls `GET /api/v1/batches/{batch_no}` (the CSP
//! admits same-origin scripts only; without script the page still shows the
//! progress as of its loading).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sscard_domain::case::CaseState;

use super::staff::{Fields, NoticeQuery, StaffNav, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::api::batches::{BATCH_BODY_LIMIT, files_of, read_batch_form};
use crate::http::auth::Session;
use crate::http::problem::Problem;
use crate::service::ServiceError;
use crate::service::accounts::Client;
use crate::service::batches::{
    BatchActionInput, BatchSummary, BatchView, MAX_LIST_BYTES, MAX_LIST_ROWS, UploadedFile,
};
use crate::service::cases::{MAX_UPLOAD_BYTES, action_from_path, action_path};

const SCRIPT: &str = include_str!("../../../static/batch.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/batch.js", get(script))
        .route("/employer", get(employer_page))
        .route(
            "/employer/batches",
            post(submit).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/employer/batches/{batch_no}", get(employer_batch))
        .route(
            "/employer/batches/{batch_no}/supplement",
            post(supplement).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/batches", get(queues))
        .route("/batches/{batch_no}", get(staff_batch))
        .route("/batches/{batch_no}/{action}", post(act))
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

/// A refusal shown on the page that caused it.
struct PageError {
    detail: String,
    messages: Vec<String>,
}

impl PageError {
    fn of_problem(problem: &Problem) -> Self {
        Self {
            detail: problem.detail.clone(),
            messages: problem
                .errors
                .iter()
                .map(|e| e.message.clone())
                .filter(|m| *m != problem.detail)
                .collect(),
        }
    }

    fn of(error: &ServiceError) -> Self {
        Self::of_problem(&Problem::from(error))
    }
}

fn china_time(time: chrono::DateTime<chrono::Utc>) -> String {
    to_china(time).format("%Y-%m-%d %H:%M").to_string()
}

/// One batch in a list, as the templates show it.
struct BatchLine {
    summary: BatchSummary,
    received_at: String,
    live: bool,
}

impl BatchLine {
    fn of(summary: BatchSummary) -> Self {
        let live = !matches!(summary.state.as_str(), "completed" | "refused");
        Self {
            received_at: china_time(summary.received_at),
            live,
            summary,
        }
    }
}

// ---------------------------------------------------------------------------
// The employer's pages

#[derive(Template, WebTemplate)]
#[template(path = "employer.html")]
struct EmployerPage {
    staff: StaffNav,
    employer_name: String,
    employer_uscc: String,
    notice: Option<&'static str>,
    error: Option<PageError>,
    batches: Vec<BatchLine>,
    idempotency_key: String,
    max_letter_mb: usize,
    max_list_mb: u64,
    max_rows: u64,
}

async fn render_employer(
    state: &AppState,
    session: &Session,
    notice: Option<&'static str>,
    error: Option<PageError>,
    status: StatusCode,
) -> Response {
    let principal = &session.principal;
    let batches = match state.services.batches(principal, &[], 100).await {
        Ok(batches) => batches,
        Err(error) => return service_error_page(&error),
    };
    let page = EmployerPage {
        staff: StaffNav::of(principal),
        employer_name: principal.display_name.clone(),
        employer_uscc: principal.employer_uscc.clone().unwrap_or_default(),
        notice,
        error,
        batches: batches.into_iter().map(BatchLine::of).collect(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        max_letter_mb: MAX_UPLOAD_BYTES / 1024 / 1024,
        max_list_mb: MAX_LIST_BYTES / 1024 / 1024,
        max_rows: MAX_LIST_ROWS,
    };
    (status, page).into_response()
}

async fn employer_page(State(state): State<AppState>, session: Session) -> Response {
    render_employer(&state, &session, None, None, StatusCode::OK).await
}

async fn submit(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let refused = |problem: &Problem| Some(PageError::of_problem(problem));
    let Ok(mut multipart) = multipart else {
        let problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_MULTIPART",
            "请求有误",
            "表单内容无法读取，请重新选择文件后提交。",
        );
        return render_employer(
            &state,
            &session,
            None,
            refused(&problem),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let form = match read_batch_form(&mut multipart).await {
        Ok(form) => form,
        Err(problem) => {
            return render_employer(
                &state,
                &session,
                None,
                refused(&problem),
                problem.status_code(),
            )
            .await;
        }
    };
    let (letter, list) = match files_of(&form) {
        Ok(files) => files,
        Err(problem) => {
            return render_employer(
                &state,
                &session,
                None,
                refused(&problem),
                problem.status_code(),
            )
            .await;
        }
    };
    let key = form
        .field("idempotency_key")
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match state
        .services
        .submit_batch(&session.principal, letter, list, key, &client)
        .await
    {
        Ok((view, _)) => see_other(&format!(
            "/employer/batches/{}?notice=submitted",
            view.batch_no
        )),
        Err(error) => {
            let problem = Problem::from(&error);
            render_employer(
                &state,
                &session,
                None,
                Some(PageError::of(&error)),
                problem.status_code(),
            )
            .await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "employer_batch.html")]
struct EmployerBatchPage {
    staff: StaffNav,
    batch: BatchView,
    notice: Option<&'static str>,
    error: Option<PageError>,
    received_at: String,
    timeline: Vec<(String, String)>,
    can_supplement: bool,
    live: bool,
}

fn employer_batch_page(
    session: &Session,
    batch: BatchView,
    notice: Option<&'static str>,
    error: Option<PageError>,
) -> EmployerBatchPage {
    let live = !matches!(batch.state.as_str(), "completed" | "refused");
    EmployerBatchPage {
        staff: StaffNav::of(&session.principal),
        received_at: china_time(batch.received_at),
        timeline: timeline_of(&batch),
        can_supplement: batch.allowed_actions.iter().any(|a| a == "supplement"),
        live,
        batch,
        notice,
        error,
    }
}

fn employer_notice(code: Option<&str>) -> Option<&'static str> {
    match code {
        Some("submitted") => Some(
            "批量办件已提交，名单已读取。受理岗核对授权委托书后开始逐行办理，本页会显示办理进度。",
        ),
        Some("supplemented") => Some("已重新上传授权委托书，批量办件回到待受理。"),
        _ => None,
    }
}

async fn employer_batch(
    State(state): State<AppState>,
    session: Session,
    Path(batch_no): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    match state.services.batch(&session.principal, &batch_no).await {
        Ok(batch) => employer_batch_page(
            &session,
            batch,
            employer_notice(query.notice.as_deref()),
            None,
        )
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn supplement(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path(batch_no): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let letter = match multipart {
        Ok(mut multipart) => match read_batch_form(&mut multipart).await {
            Ok(form) => form.letter,
            Err(problem) => return problem_on_batch(&state, &session, &batch_no, &problem).await,
        },
        Err(_) => None,
    };
    let Some((file_name, bytes)) = letter.filter(|(_, b)| !b.is_empty()) else {
        let problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UPLOAD_FIELD_MISSING",
            "填写内容有误",
            "请选择加盖单位公章的批量启用授权委托书扫描件（PDF、JPEG 或 PNG）。",
        );
        return problem_on_batch(&state, &session, &batch_no, &problem).await;
    };
    match state
        .services
        .supplement_batch(
            &session.principal,
            &batch_no,
            UploadedFile {
                file_name: &file_name,
                bytes,
            },
            &client,
        )
        .await
    {
        Ok(view) => see_other(&format!(
            "/employer/batches/{}?notice=supplemented",
            view.batch_no
        )),
        Err(error) => problem_on_batch(&state, &session, &batch_no, &Problem::from(&error)).await,
    }
}

async fn problem_on_batch(
    state: &AppState,
    session: &Session,
    batch_no: &str,
    problem: &Problem,
) -> Response {
    match state.services.batch(&session.principal, batch_no).await {
        Ok(batch) => (
            problem.status_code(),
            employer_batch_page(session, batch, None, Some(PageError::of_problem(problem))),
        )
            .into_response(),
        Err(error) => service_error_page(&error),
    }
}

/// What a row failure's code means, in a few Chinese words, for the
/// failures table of a batch page (each row's full reason is in the report).
pub(crate) fn failure_label(code: &str) -> &'static str {
    match code {
        "PERSON_NOT_FOUND" => "未找到该参保人员",
        "NAME_MISMATCH" => "姓名与登记不一致",
        "NOT_EMPLOYEE_OF_EMPLOYER" => "不是本单位职工",
        "NOT_INSURED_IN_LIUZHOU" => "未参加柳州市社会保险",
        "CARD_NOT_FOUND" => "未找到该卡号",
        "CARD_NOT_APPLICANTS" => "卡不属于该职工",
        "CARD_CANCELLED" => "卡已注销",
        "CARD_REPORTED_LOST" => "卡已挂失",
        "CARD_NOT_YET_COLLECTED" => "卡尚未领取",
        "CARD_EXPIRED" => "卡已过有效期",
        "DUPLICATE_ROW" => "与名单中前面的行重复",
        "ID_NUMBER_DIGITS_LOST" => "身份证号码被表格软件改成了数字",
        code if code.starts_with("ID_NUMBER") => "社会保障号码有误",
        code if code.starts_with("CARD_NUMBER") => "社会保障卡卡号有误",
        _ => "其他原因（见结果清单中的原因说明）",
    }
}

fn timeline_of(batch: &BatchView) -> Vec<(String, String)> {
    batch
        .timeline
        .iter()
        .map(|step| {
            let mut text = format!(
                "{} {}（{}）→ {}",
                china_time(step.occurred_at),
                step.action_label,
                step.actor_name,
                step.to_state_label
            );
            if let Some(opinion) = &step.opinion {
                text.push('：');
                text.push_str(opinion);
            }
            (step.action.clone(), text)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The staff's pages

/// `?state=` of the queues page.
#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    state: Option<String>,
}

struct QueueGroup {
    code: &'static str,
    label: &'static str,
    rows: Vec<BatchLine>,
}

#[derive(Template, WebTemplate)]
#[template(path = "batches.html")]
struct QueuesPage {
    staff: StaffNav,
    groups: Vec<QueueGroup>,
    single: bool,
}

const QUEUES: [(&str, &str, CaseState); 6] = [
    (
        "submitted",
        "待受理（核对授权委托书）",
        CaseState::Submitted,
    ),
    (
        "awaiting_processing",
        "经办中（逐行办理）",
        CaseState::AwaitingProcessing,
    ),
    (
        "awaiting_feedback",
        "待反馈（送达结果清单）",
        CaseState::AwaitingFeedback(sscard_domain::case::Outcome::Approved),
    ),
    (
        "awaiting_supplement",
        "补正中（等待单位补正）",
        CaseState::AwaitingSupplement,
    ),
    (
        "completed",
        "已办结",
        CaseState::Completed(sscard_domain::case::Outcome::Approved),
    ),
    ("refused", "不予受理", CaseState::Refused),
];

async fn queues(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<QueueQuery>,
) -> Response {
    let principal = &session.principal;
    let wanted = query.state.as_deref().map(str::trim);
    let mut groups = Vec::new();
    for (code, label, case_state) in QUEUES {
        if wanted.is_some_and(|w| w != code) {
            continue;
        }
        // States with an outcome: every outcome of that state.
        let states: Vec<CaseState> = CaseState::ALL
            .into_iter()
            .filter(|s| s.code() == case_state.code())
            .collect();
        let limit = if matches!(code, "completed" | "refused") && wanted.is_none() {
            20
        } else {
            200
        };
        match state.services.batches(principal, &states, limit).await {
            Ok(rows) => groups.push(QueueGroup {
                code,
                label,
                rows: rows.into_iter().map(BatchLine::of).collect(),
            }),
            Err(error) => return service_error_page(&error),
        }
    }
    QueuesPage {
        staff: StaffNav::of(principal),
        groups,
        single: wanted.is_some(),
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "batch.html")]
struct StaffBatchPage {
    staff: StaffNav,
    batch: BatchView,
    notice: Option<&'static str>,
    error: Option<PageError>,
    received_at: String,
    timeline: Vec<(String, String)>,
    can_accept: bool,
    can_notify: bool,
    can_refuse: bool,
    can_deliver: bool,
    live: bool,
    /// What was typed into a refused form.
    reason: String,
    code: String,
    /// 不予受理: the usual reason codes with their labels (suggestions).
    refusal_suggestions: &'static [(&'static str, &'static str)],
}

fn staff_batch_page(
    session: &Session,
    batch: BatchView,
    notice: Option<&'static str>,
    error: Option<PageError>,
    typed: (String, String),
) -> StaffBatchPage {
    let can = |action: &str| batch.allowed_actions.iter().any(|a| a == action);
    StaffBatchPage {
        staff: StaffNav::of(&session.principal),
        received_at: china_time(batch.received_at),
        timeline: timeline_of(&batch),
        can_accept: can("accept"),
        can_notify: can("notify-missing"),
        can_refuse: can("refuse"),
        can_deliver: can("deliver"),
        live: !matches!(batch.state.as_str(), "completed" | "refused"),
        batch,
        notice,
        error,
        reason: typed.0,
        code: typed.1,
        refusal_suggestions: &sscard_domain::batch::BATCH_REFUSAL_SUGGESTIONS,
    }
}

fn staff_notice(code: Option<&str>) -> Option<&'static str> {
    match code {
        Some("accept") => Some("已受理。系统正在逐行办理名单，完成后进入待反馈。"),
        Some("notify-missing") => Some("已出具一次性告知，等待单位补正授权委托材料。"),
        Some("refuse") => Some("已作出不予受理决定。"),
        Some("deliver") => Some("已送达：单位现在可以下载结果清单。"),
        _ => None,
    }
}

async fn staff_batch(
    State(state): State<AppState>,
    session: Session,
    Path(batch_no): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    match state.services.batch(&session.principal, &batch_no).await {
        Ok(batch) => staff_batch_page(
            &session,
            batch,
            staff_notice(query.notice.as_deref()),
            None,
            (String::new(), String::new()),
        )
        .into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn act(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path((batch_no, action)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let Some(kind) = action_from_path(&action) else {
        return super::not_found_page();
    };
    let input = BatchActionInput {
        opinion: fields.optional("opinion"),
        reason: fields.optional("reason"),
        code: fields.optional("code"),
    };
    match state
        .services
        .act_on_batch(&session.principal, &batch_no, kind, &input, &client)
        .await
    {
        Ok(view) => see_other(&format!(
            "/batches/{}?notice={}",
            view.batch_no,
            action_path(kind)
        )),
        Err(error) => {
            let problem = Problem::from(&error);
            match state.services.batch(&session.principal, &batch_no).await {
                Ok(batch) => (
                    problem.status_code(),
                    staff_batch_page(
                        &session,
                        batch,
                        None,
                        Some(PageError::of(&error)),
                        (
                            fields.get("reason").to_owned(),
                            fields.get("code").to_owned(),
                        ),
                    ),
                )
                    .into_response(),
                Err(error) => service_error_page(&error),
            }
        }
    }
}
