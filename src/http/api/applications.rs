//! The activation case over JSON: submit (online by the cardholder, window
//! and express by the 受理岗), pre-check, the case with its timeline, the
//! actions of 受理 → 经办 → 反馈, the workbench queues and uploaded scans.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::auth::CallerSession;
use crate::http::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::cases::{
    ActionInput, ApplicationInput, CaseCaller, CaseSummary, CaseView, MAX_UPLOAD_BYTES,
    PrecheckReport, Queue, QueueCount, UploadView, action_from_path,
};

/// The request header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Box<Problem>> {
    match headers.get(IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            Box::new(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_INVALID",
                "填写内容有误",
                "Idempotency-Key 须为可见ASCII字符，建议使用UUID。",
            ))
        }),
    }
}

/// Submits an application (申请). A signed-in cardholder applies online for
/// their own card; the 受理岗 enters a walk-in (`channel: window`) or a
/// posted application (`channel: express`, with the waybill it came with).
/// Send `Idempotency-Key`: the same key and form return the first case.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])),
    request_body = ApplicationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "e.g. a UUID; the same key and body return the first answer")),
    responses(
        (status = 201, body = CaseView, description = "the case, with `application_no`, `status`, `guide_version`, `deadline`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "IDEMPOTENCY_KEY_REUSED"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "VALIDATION_FAILED, with every field at fault"),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    caller: CallerSession,
    client: Client,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers).map_err(|problem| *problem)?;
    let (case, replayed) = state
        .services
        .submit_application(caller.case_caller(), &input, key.as_deref(), &client)
        .await?;
    let mut response = (StatusCode::CREATED, Json(case)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// 预审: checks a form without submitting it and lists every problem at
/// once, with what acceptance would ask for.
#[utoipa::path(post, path = "/api/v1/applications/precheck", tag = "applications", security(("bearer" = [])),
    request_body = ApplicationInput,
    responses((status = 200, body = PrecheckReport)))]
pub async fn precheck(
    State(state): State<AppState>,
    caller: CallerSession,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> Result<Json<PrecheckReport>, Problem> {
    Ok(Json(
        state
            .services
            .precheck_application(caller.case_caller(), &input)
            .await?,
    ))
}

/// Query of `GET /api/v1/applications`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Staff: the queue (`submitted`, `awaiting_supplement`,
    /// `awaiting_processing`, `awaiting_feedback`, `overdue`, `completed`,
    /// `refused`); default `submitted`. Ignored for a cardholder, who gets
    /// their own cases.
    pub queue: Option<String>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// A queue of the workbench (staff), or the signed-in cardholder's own cases.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = Vec<CaseSummary>),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "QUEUE_INVALID"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: CallerSession,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<CaseSummary>>, Problem> {
    match caller.case_caller() {
        CaseCaller::Citizen(citizen) => Ok(Json(state.services.my_applications(citizen).await?)),
        CaseCaller::Staff(_) | CaseCaller::Public => {
            let code = query.queue.as_deref().unwrap_or("submitted");
            let queue = Queue::from_code(code).ok_or_else(|| {
                let message = "队列须为 submitted、awaiting_supplement、awaiting_processing、awaiting_feedback、overdue、completed 或 refused。";
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "QUEUE_INVALID",
                    "填写内容有误",
                    message,
                )
                .with_errors(vec![FieldError::new("queue", "QUEUE_INVALID", message)])
            })?;
            let limit = query.limit.unwrap_or(100).clamp(1, 500);
            Ok(Json(state.services.application_queue(queue, limit).await?))
        }
    }
}

/// How many cases wait in each queue of the workbench.
#[utoipa::path(get, path = "/api/v1/applications/queues", tag = "applications", security(("bearer" = [])),
    responses((status = 200, body = Vec<QueueCount>)))]
pub async fn queues(State(state): State<AppState>) -> Result<Json<Vec<QueueCount>>, Problem> {
    Ok(Json(state.services.queue_counts().await?))
}

/// The case with its materials, timeline, deadlines and the actions the
/// caller may take now. A cardholder sees only their own cases.
#[utoipa::path(get, path = "/api/v1/applications/{application_no}", tag = "applications", security(("bearer" = [])),
    params(("application_no" = String, Path, example = "SQ-20261127-000001")),
    responses(
        (status = 200, body = CaseView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "APPLICATION_NOT_FOUND"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: CallerSession,
    ApiPath(application_no): ApiPath<String>,
) -> Result<Json<CaseView>, Problem> {
    Ok(Json(
        state
            .services
            .application(caller.case_caller(), &application_no)
            .await?,
    ))
}

/// One action on a case: `accept` (受理), `notify-missing` (一次性告知),
/// `supplement` (补正, the applicant or the 受理岗), `refuse` (不予受理),
/// `approve` (经办: activates the card), `deny` (不予通过),
/// `confirm-already-active`, `deliver` (反馈: 送达). Each checks the caller's
/// role for the step and the case's current state; two clerks racing get
/// one success and one `409 CASE_STATE_CONFLICT`. The body is optional.
#[utoipa::path(post, path = "/api/v1/applications/{application_no}/{action}", tag = "applications", security(("bearer" = [])),
    params(
        ("application_no" = String, Path, example = "SQ-20261127-000001"),
        ("action" = String, Path, description = "accept | notify-missing | supplement | refuse | approve | deny | confirm-already-active | deliver"),
    ),
    request_body(content = Option<ActionInput>),
    responses(
        (status = 200, body = CaseView),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "ROLE_NOT_PERMITTED_FOR_STEP"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "APPLICATION_NOT_FOUND, ACTION_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CASE_STATE_CONFLICT, NOT_INSURED_IN_LIUZHOU, CARD_REPORTED_LOST …"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "MATERIALS_INCOMPLETE, NOTICE_EMPTY, REASON_REQUIRED, VALIDATION_FAILED"),
    ))]
pub async fn act(
    State(state): State<AppState>,
    caller: CallerSession,
    client: Client,
    ApiPath((application_no, action)): ApiPath<(String, String)>,
    request: Request,
) -> Result<Json<CaseView>, Problem> {
    let kind = action_from_path(&action).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "ACTION_NOT_FOUND",
            "未找到",
            "没有这项办理操作。可用：accept、notify-missing、supplement、refuse、approve、deny、confirm-already-active、deliver。",
        )
    })?;
    let input = optional_json::<ActionInput>(request, &state).await?;
    Ok(Json(
        state
            .services
            .act_on_application(caller.case_caller(), &application_no, kind, &input, &client)
            .await?,
    ))
}

/// A JSON body, or the default when the request has none.
pub(crate) async fn optional_json<T>(request: Request, state: &AppState) -> Result<T, Problem>
where
    T: Default + serde::de::DeserializeOwned,
{
    let headers = request.headers();
    let empty_length = headers
        .get(header::CONTENT_LENGTH)
        .is_none_or(|v| v.as_bytes() == b"0");
    let no_type = headers.get(header::CONTENT_TYPE).is_none();
    if empty_length && no_type {
        return Ok(T::default());
    }
    let ApiJson(value) = ApiJson::<T>::from_request(request, state).await?;
    Ok(value)
}

/// Uploads one scan (multipart field `file`): PDF, JPEG or PNG, recognised
/// by content, at most 10 MB. It belongs to the uploader until an
/// application or supplement names its `upload_id`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "applications", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses(
        (status = 201, body = UploadView),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "UPLOAD_TYPE_NOT_ALLOWED, UPLOAD_TOO_LARGE, UPLOAD_EMPTY, UPLOAD_FIELD_MISSING"),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: CallerSession,
    client: Client,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<UploadView>), Problem> {
    let mut multipart = multipart.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "请求格式不受支持",
            format!(
                "请以 multipart/form-data 上传，文件放在 file 字段：{}",
                e.body_text()
            ),
        )
    })?;
    let (file_name, bytes) = read_file_field(&mut multipart, "file").await?;
    let view = state
        .services
        .store_upload(caller.case_caller(), &file_name, bytes, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reads the named file field of a multipart body.
pub async fn read_file_field(
    multipart: &mut Multipart,
    name: &str,
) -> Result<(String, Vec<u8>), Problem> {
    let too_large = || crate::http::problem::payload_too_large();
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "MALFORMED_MULTIPART",
                    "请求有误",
                    format!("无法读取上传内容：{}", e.body_text()),
                )
            }
        })?;
        let Some(field) = field else {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UPLOAD_FIELD_MISSING",
                "填写内容有误",
                format!("请在 {name} 字段中选择要上传的扫描件。"),
            )
            .with_errors(vec![FieldError::new(
                name,
                "UPLOAD_FIELD_MISSING",
                "请选择要上传的扫描件（PDF、JPEG或PNG）。",
            )]));
        };
        if field.name() != Some(name) {
            continue;
        }
        let file_name = field.file_name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "MALFORMED_MULTIPART",
                    "请求有误",
                    format!("无法读取上传内容：{}", e.body_text()),
                )
            }
        })?;
        return Ok((file_name, bytes.to_vec()));
    }
}

/// The body limit of upload routes: one scan plus the multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 64 * 1024;

/// A scan, for its uploader or for staff once a case holds it; shown in
/// the browser (`inline`), never run as a page.
#[utoipa::path(get, path = "/api/v1/uploads/{upload_id}", tag = "applications", security(("bearer" = [])),
    params(("upload_id" = String, Path)),
    responses(
        (status = 200, description = "the file, as application/pdf, image/jpeg or image/png"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "UPLOAD_NOT_FOUND"),
    ))]
pub async fn download(
    State(state): State<AppState>,
    caller: CallerSession,
    ApiPath(upload_id): ApiPath<String>,
) -> Result<Response, Problem> {
    let content = state
        .services
        .upload_content(caller.case_caller(), &upload_id)
        .await?;
    Ok(file_response(content))
}

/// A stored scan as an inline, sandboxed, uncached response.
pub fn file_response(content: crate::service::cases::UploadContent) -> Response {
    let disposition = format!(
        "inline; filename*=UTF-8''{}",
        url::form_urlencoded::byte_serialize(content.file_name.as_bytes()).collect::<String>()
    );
    let mut response = Response::new(Body::from(content.bytes));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'; object-src 'self'"),
    );
    response
}
