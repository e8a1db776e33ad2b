//! 单位批量启用 over JSON: an employer submits a batch (the sealed
//! authorization letter and the list, multipart), follows its progress and
//! downloads the per-row report; the window clerks take the steps 受理 and
//! 反馈 (经办 is done row by row in the background).

use std::io::Write as _;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sscard_domain::case::CaseState;

use super::applications::{IDEMPOTENCY_KEY, file_response};
use crate::http::AppState;
use crate::http::auth::Session;
use crate::http::problem::{ApiJson, ApiPath, ApiQuery, Problem, payload_too_large};
use crate::service::FieldError;
use crate::service::accounts::Client;
use crate::service::batches::report::{
    Spreadsheet, SpreadsheetContent, XLSX_CONTENT_TYPE, template_xlsx,
};
use crate::service::batches::{
    BatchActionInput, BatchSummary, BatchView, MAX_LIST_BYTES, UploadedFile, UploadedList,
};
use crate::service::cases::{MAX_UPLOAD_BYTES, action_from_path};

/// The body limit of the batch routes: the letter, the list and framing.
#[allow(clippy::cast_possible_truncation)] // 32 MiB fits every usize
pub const BATCH_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + MAX_LIST_BYTES as usize + 64 * 1024;

/// A batch form as it arrived: the letter in memory, the list in a
/// temporary file (removed when this is dropped), other text fields.
pub struct BatchForm {
    pub letter: Option<(String, Vec<u8>)>,
    pub list: Option<(String, tempfile::NamedTempFile)>,
    pub fields: Vec<(String, String)>,
}

impl BatchForm {
    /// A text field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn malformed(error: &axum::extract::multipart::MultipartError) -> Problem {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        payload_too_large()
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_MULTIPART",
            "请求有误",
            format!("无法读取上传内容：{}", error.body_text()),
        )
    }
}

fn list_too_large() -> Problem {
    let message = format!(
        "名单文件超过 {} MB，请分成几个名单分别上传。",
        MAX_LIST_BYTES / 1024 / 1024
    );
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "BATCH_LIST_TOO_LARGE",
        "填写内容有误",
        message.clone(),
    )
    .with_errors(vec![FieldError::new(
        "list",
        "BATCH_LIST_TOO_LARGE",
        message,
    )])
}

/// Reads a batch form: the file fields `authorization` (the letter, at most
/// 10 MB) and `list` (streamed to a temporary file, at most
/// [`MAX_LIST_BYTES`]), and short text fields.
///
/// # Errors
///
/// A malformed body, an oversized part.
pub async fn read_batch_form(multipart: &mut Multipart) -> Result<BatchForm, Problem> {
    let mut form = BatchForm {
        letter: None,
        list: None,
        fields: Vec::new(),
    };
    while let Some(mut field) = multipart.next_field().await.map_err(|e| malformed(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().unwrap_or_default().to_owned();
        match name.as_str() {
            "authorization" => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| malformed(&e))? {
                    if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                        let message = format!(
                            "授权委托书扫描件超过 {} MB，请降低扫描分辨率或压缩后重新上传。",
                            MAX_UPLOAD_BYTES / 1024 / 1024
                        );
                        return Err(Problem::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "UPLOAD_TOO_LARGE",
                            "填写内容有误",
                            message.clone(),
                        )
                        .with_errors(vec![FieldError::new(
                            "authorization",
                            "UPLOAD_TOO_LARGE",
                            message,
                        )]));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                form.letter = Some((file_name, bytes));
            }
            "list" => {
                let mut file = tempfile::NamedTempFile::new().map_err(|e| {
                    tracing::error!(error = %e, "cannot create a temporary file for a batch list");
                    Problem::internal()
                })?;
                let mut size: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(|e| malformed(&e))? {
                    size += chunk.len() as u64;
                    if size > MAX_LIST_BYTES {
                        return Err(list_too_large());
                    }
                    file.write_all(&chunk).map_err(|e| {
                        tracing::error!(error = %e, "cannot write a batch list to a temporary file");
                        Problem::internal()
                    })?;
                }
                file.flush().map_err(|_| Problem::internal())?;
                form.list = Some((file_name, file));
            }
            _ => {
                let text = field.text().await.map_err(|e| malformed(&e))?;
                if text.len() <= 1024 && form.fields.len() < 16 {
                    form.fields.push((name, text));
                }
            }
        }
    }
    Ok(form)
}

fn missing(field: &str, message: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_FIELD_MISSING",
        "填写内容有误",
        message,
    )
    .with_errors(vec![FieldError::new(
        field,
        "UPLOAD_FIELD_MISSING",
        message,
    )])
}

/// The letter and list of a form, or what is missing (both at once).
pub fn files_of(form: &BatchForm) -> Result<(UploadedFile<'_>, UploadedList<'_>), Box<Problem>> {
    let mut errors = Vec::new();
    if form
        .letter
        .as_ref()
        .is_none_or(|(_, bytes)| bytes.is_empty())
    {
        errors.push(FieldError::new(
            "authorization",
            "UPLOAD_FIELD_MISSING",
            "请选择加盖单位公章的批量启用授权委托书扫描件（PDF、JPEG 或 PNG）。",
        ));
    }
    if form.list.is_none() {
        errors.push(FieldError::new(
            "list",
            "UPLOAD_FIELD_MISSING",
            "请选择职工电子名单（XLSX 或 CSV，可使用名单模板）。",
        ));
    }
    match (&form.letter, &form.list) {
        (Some((letter_name, bytes)), Some((list_name, file))) if errors.is_empty() => Ok((
            UploadedFile {
                file_name: letter_name,
                bytes: bytes.clone(),
            },
            UploadedList {
                file_name: list_name,
                path: file.path(),
            },
        )),
        _ => Err(Box::new(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UPLOAD_FIELD_MISSING",
                "填写内容有误",
                "批量启用须同时上传授权委托书扫描件（authorization）和电子名单（list）。",
            )
            .with_errors(errors),
        )),
    }
}

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

/// Submits a batch (单位批量启用): multipart fields `authorization` (the
/// scan of the sealed authorization letter: PDF, JPEG or PNG, ≤ 10 MB) and
/// `list` (the employees: XLSX or CSV in UTF-8 or GBK, ≤ 32 MB, ≤ 200,000
/// rows; see the template). The list is read at once — its header may be
/// below a title row, extra columns are ignored — and every row is kept
/// with any problem it has; processing starts once the 受理岗 has accepted
/// the letter. Send `Idempotency-Key`: the same key and files return the
/// first batch.
#[utoipa::path(post, path = "/api/v1/batches", tag = "batches", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "fields `authorization` and `list`"),
    params(("Idempotency-Key" = Option<String>, Header, description = "e.g. a UUID; the same key and files return the first batch")),
    responses(
        (status = 201, body = BatchView, description = "the batch, with `batch_no`, `state`, `guide_version` and the row count"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "ROLE_NOT_PERMITTED, EMPLOYER_REQUIRED"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "IDEMPOTENCY_KEY_REUSED"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "UPLOAD_FIELD_MISSING, UPLOAD_TYPE_NOT_ALLOWED, BATCH_LIST_COLUMNS_MISSING, BATCH_LIST_EMPTY, BATCH_LIST_TOO_LARGE, FILE_XLSX_CORRUPT …"),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers).map_err(|problem| *problem)?;
    let mut multipart = multipart.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "请求格式不受支持",
            format!(
                "请以 multipart/form-data 上传：authorization 字段放授权委托书扫描件，list 字段放名单：{}",
                e.body_text()
            ),
        )
    })?;
    let form = read_batch_form(&mut multipart).await?;
    let (letter, list) = files_of(&form).map_err(|problem| *problem)?;
    let (view, replayed) = state
        .services
        .submit_batch(&session.principal, letter, list, key.as_deref(), &client)
        .await?;
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Query of `GET /api/v1/batches`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Staff: only batches in this state (`submitted`,
    /// `awaiting_supplement`, `awaiting_processing`, `awaiting_feedback`,
    /// `completed`, `refused`); all by default. An employer always gets
    /// their own.
    pub state: Option<String>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// The caller's batches: an employer's own, newest first; for staff every
/// employer's (optionally in one state).
#[utoipa::path(get, path = "/api/v1/batches", tag = "batches", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = Vec<BatchSummary>),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "STATE_INVALID"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<BatchSummary>>, Problem> {
    let states: Vec<CaseState> = match query.state.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(code) => {
            let found: Vec<CaseState> = CaseState::ALL
                .into_iter()
                .filter(|s| s.code() == code)
                .collect();
            if found.is_empty() {
                let message = "状态须为 submitted、awaiting_supplement、awaiting_processing、awaiting_feedback、completed 或 refused。";
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "STATE_INVALID",
                    "填写内容有误",
                    message,
                )
                .with_errors(vec![FieldError::new(
                    "state",
                    "STATE_INVALID",
                    message,
                )]));
            }
            found
        }
    };
    let limit = query.limit.unwrap_or(100);
    Ok(Json(
        state
            .services
            .batches(&session.principal, &states, limit)
            .await?,
    ))
}

/// A batch with its progress (rows done, succeeded, failed), the guide
/// version it follows, its notices and timeline. An employer sees only
/// their own batches; another's answers 404 like a missing one.
#[utoipa::path(get, path = "/api/v1/batches/{batch_no}", tag = "batches", security(("bearer" = [])),
    params(("batch_no" = String, Path, example = "PL-20261127-000001")),
    responses(
        (status = 200, body = BatchView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BATCH_NOT_FOUND"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    session: Session,
    ApiPath(batch_no): ApiPath<String>,
) -> Result<Json<BatchView>, Problem> {
    Ok(Json(
        state.services.batch(&session.principal, &batch_no).await?,
    ))
}

/// A spreadsheet as a download.
pub fn spreadsheet_response(sheet: Spreadsheet) -> Response {
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        url::form_urlencoded::byte_serialize(sheet.file_name.as_bytes()).collect::<String>()
    );
    let (body, length) = match sheet.content {
        SpreadsheetContent::Memory(bytes) => {
            let length = bytes.len() as u64;
            (Body::from(bytes), length)
        }
        SpreadsheetContent::File { file, length } => {
            let file = tokio::fs::File::from_std(file);
            (
                Body::from_stream(tokio_util::io::ReaderStream::new(file)),
                length,
            )
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(XLSX_CONTENT_TYPE),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// The per-row result (结果清单) as XLSX: every row of the list with
/// 成功/失败, the reason code and the reason in Chinese, identifiers masked;
/// a second sheet sums it up. Staff once every row is decided; the employer
/// once the 反馈岗 has delivered the result.
#[utoipa::path(get, path = "/api/v1/batches/{batch_no}/report.xlsx", tag = "batches", security(("bearer" = [])),
    params(("batch_no" = String, Path, example = "PL-20261127-000001")),
    responses(
        (status = 200, description = "the report, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BATCH_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "BATCH_REPORT_NOT_READY"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    session: Session,
    ApiPath(batch_no): ApiPath<String>,
) -> Result<Response, Problem> {
    let sheet = state
        .services
        .batch_report(&session.principal, &batch_no)
        .await?;
    Ok(spreadsheet_response(sheet))
}

/// The list template (XLSX): 姓名, 社会保障号码, 社会保障卡卡号, 手机号 as
/// text columns with an example row, and a sheet of instructions.
#[utoipa::path(get, path = "/api/v1/batches/template.xlsx", tag = "batches", security(("bearer" = [])),
    responses((status = 200, description = "the template, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn template() -> Result<Response, Problem> {
    Ok(spreadsheet_response(template_xlsx()?))
}

/// The scan of the batch's sealed authorization letter, shown in the
/// browser (sandboxed, never cached).
#[utoipa::path(get, path = "/api/v1/batches/{batch_no}/authorization", tag = "batches", security(("bearer" = [])),
    params(("batch_no" = String, Path, example = "PL-20261127-000001")),
    responses(
        (status = 200, description = "the scan, as application/pdf, image/jpeg or image/png"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BATCH_NOT_FOUND"),
    ))]
pub async fn letter(
    State(state): State<AppState>,
    session: Session,
    ApiPath(batch_no): ApiPath<String>,
) -> Result<Response, Problem> {
    let content = state
        .services
        .batch_letter(&session.principal, &batch_no)
        .await?;
    Ok(file_response(content))
}

/// 补正: the employer sends a new scan of the authorization letter
/// (multipart field `authorization`) after a one-time notice.
#[utoipa::path(post, path = "/api/v1/batches/{batch_no}/supplement", tag = "batches", security(("bearer" = [])),
    params(("batch_no" = String, Path, example = "PL-20261127-000001")),
    request_body(content_type = "multipart/form-data", description = "field `authorization`"),
    responses(
        (status = 200, body = BatchView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BATCH_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CASE_STATE_CONFLICT"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "UPLOAD_FIELD_MISSING, UPLOAD_TYPE_NOT_ALLOWED"),
    ))]
pub async fn supplement(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath(batch_no): ApiPath<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<BatchView>, Problem> {
    let mut multipart = multipart.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "请求格式不受支持",
            format!(
                "请以 multipart/form-data 上传，authorization 字段放授权委托书扫描件：{}",
                e.body_text()
            ),
        )
    })?;
    let form = read_batch_form(&mut multipart).await?;
    let Some((file_name, bytes)) = form.letter.as_ref().filter(|(_, b)| !b.is_empty()) else {
        return Err(missing(
            "authorization",
            "请选择加盖单位公章的批量启用授权委托书扫描件（PDF、JPEG 或 PNG）。",
        ));
    };
    Ok(Json(
        state
            .services
            .supplement_batch(
                &session.principal,
                &batch_no,
                UploadedFile {
                    file_name,
                    bytes: bytes.clone(),
                },
                &client,
            )
            .await?,
    ))
}

/// A step on a batch by a window clerk: `accept` (受理: the letter is in
/// order; the rows are then processed in the background with the
/// individual case's rules), `notify-missing` (一次性告知, `reason` says
/// what is wrong with the letter), `refuse` (不予受理, `code` and
/// `reason`), `deliver` (反馈: the employer may download the report). Each
/// checks the caller's role for the step and the batch's state.
#[utoipa::path(post, path = "/api/v1/batches/{batch_no}/{action}", tag = "batches", security(("bearer" = [])),
    params(
        ("batch_no" = String, Path, example = "PL-20261127-000001"),
        ("action" = String, Path, description = "accept | notify-missing | refuse | deliver"),
    ),
    request_body(content = Option<BatchActionInput>),
    responses(
        (status = 200, body = BatchView),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "ROLE_NOT_PERMITTED_FOR_STEP"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "BATCH_NOT_FOUND, ACTION_NOT_FOUND"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "CASE_STATE_CONFLICT, BATCH_PROCESSED_BY_RULES"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "DEFECT_REASON_REQUIRED, REASON_REQUIRED"),
    ))]
pub async fn act(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiPath((batch_no, action)): ApiPath<(String, String)>,
    request: Request,
) -> Result<Json<BatchView>, Problem> {
    let kind = action_from_path(&action).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "ACTION_NOT_FOUND",
            "未找到",
            "没有这项办理操作。批量办件可用：accept、notify-missing、refuse、deliver（补正：supplement，由单位上传）。",
        )
    })?;
    let input = optional_json(request, &state).await?;
    Ok(Json(
        state
            .services
            .act_on_batch(&session.principal, &batch_no, kind, &input, &client)
            .await?,
    ))
}

async fn optional_json(request: Request, state: &AppState) -> Result<BatchActionInput, Problem> {
    let headers = request.headers();
    let empty_length = headers
        .get(header::CONTENT_LENGTH)
        .is_none_or(|v| v.as_bytes() == b"0");
    if empty_length && headers.get(header::CONTENT_TYPE).is_none() {
        return Ok(BatchActionInput::default());
    }
    let ApiJson(value) = ApiJson::<BatchActionInput>::from_request(request, state).await?;
    Ok(value)
}

/// The batch routes (merged into [`super::router`]).
pub fn router() -> axum::Router<AppState> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/api/v1/batches",
            post(submit)
                .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT))
                .get(list),
        )
        .route("/api/v1/batches/template.xlsx", get(template))
        .route("/api/v1/batches/{batch_no}", get(get_one))
        .route("/api/v1/batches/{batch_no}/report.xlsx", get(report))
        .route("/api/v1/batches/{batch_no}/authorization", get(letter))
        .route(
            "/api/v1/batches/{batch_no}/supplement",
            post(supplement).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/api/v1/batches/{batch_no}/{action}", post(act))
}
