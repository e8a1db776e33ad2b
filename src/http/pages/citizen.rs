//! 网上办理 — the cardholder's pages: signing in by SMS code, 我的办件, the
//! 《社会保障卡服务申请表》 online with its 预审, the case as the holder sees
//! it with the supplement after a one-time notice, and the holder's own
//! scans. Plain HTML forms (POST + 303), no script; each handler calls the
//! same use case as the JSON API and shows the service's own Chinese
//! messages, every problem at once next to its field.
//!
//! The holder's full ID number never reaches the page or a URL: the form
//! handler takes it from the registry ([`Services::citizen_form_defaults`])
//! each time it builds the application.
//!
//! [`Services::citizen_form_defaults`]: crate::service::Services::citizen_form_defaults

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use sscard_domain::case::{
    CaseState, Circumstances, NoticeItem, NoticeProblem, OneTimeNotice, required_materials,
};

use super::not_found_page;
use super::staff::{Fields, NoticeQuery, denied_page, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::api::applications::file_response;
use crate::http::auth::{CitizenSession, clear_session_cookie, secure_cookies, session_cookie};
use crate::http::problem::Problem;
use crate::service::accounts::Client;
use crate::service::cases::{
    ActionInput, ApplicantInput, ApplicationInput, CaseCaller, CaseView, DeliveryInput,
    DeliveryMethod, MAX_UPLOAD_BYTES, MaterialInput, MaterialView, SERVICE_ACTIVATE,
};
use crate::service::citizen_forms::{CitizenFormDefaults, OwnCard};
use crate::service::{FieldError, ServiceError};

/// The most scans one form carries (the online form's materials: the form
/// itself and the own card).
const SCANS_PER_FORM: usize = 2;

/// The body limit of the pages that upload scans: the scans, the fields and
/// the multipart framing. Each scan is also checked on its own (10 MB).
pub const SCAN_FORM_BODY_LIMIT: usize = SCANS_PER_FORM * MAX_UPLOAD_BYTES + 64 * 1024;

/// What the file inputs accept (the server checks the content anyway).
const SCAN_ACCEPT: &str = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/my/signin", get(sign_in_form).post(sign_in))
        .route("/my/signin/code", post(request_code))
        .route("/my/signout", post(sign_out))
        .route("/my", get(my_cases))
        .route(
            "/my/apply",
            get(apply_form)
                .post(apply)
                .layer(DefaultBodyLimit::max(SCAN_FORM_BODY_LIMIT)),
        )
        .route("/my/cases/{application_no}", get(case_page))
        .route(
            "/my/cases/{application_no}/supplement",
            post(supplement).layer(DefaultBodyLimit::max(SCAN_FORM_BODY_LIMIT)),
        )
        .route("/my/uploads/{upload_id}", get(scan))
        .route("/my/cases/{application_no}/rating", post(rate))
}

/// What the page layout of a signed-in cardholder shows about them.
pub struct CitizenNav {
    pub name: String,
    pub id_number_masked: String,
}

impl CitizenNav {
    pub fn of(session: &CitizenSession) -> Self {
        Self {
            name: session.principal.name.clone(),
            id_number_masked: session.principal.id_number_masked.clone(),
        }
    }
}

/// One problem, next to its field and in the summary (linking to it).
struct PageError {
    /// The id of the input at fault (the summary links to it).
    anchor: String,
    message: String,
}

fn error_for(errors: &[PageError], anchor: &str) -> Option<String> {
    let messages: Vec<&str> = errors
        .iter()
        .filter(|e| e.anchor == anchor)
        .map(|e| e.message.as_str())
        .collect();
    (!messages.is_empty()).then(|| messages.join("；"))
}

fn time(at: DateTime<Utc>) -> String {
    to_china(at).format("%Y-%m-%d %H:%M").to_string()
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A refusal of the service as the status and the page's alert.
fn alert_of(error: &ServiceError) -> (StatusCode, String, Vec<FieldError>) {
    let problem = Problem::from(error);
    (problem.status_code(), problem.detail, problem.errors)
}

// ---------------------------------------------------------------------------
// Posted forms

/// A posted form: its text fields in order and its chosen files.
#[derive(Default)]
struct Posted {
    fields: Vec<(String, String)>,
    files: Vec<PostedFile>,
}

struct PostedFile {
    field: String,
    file_name: String,
    bytes: Vec<u8>,
}

impl Posted {
    /// The first value of `name`, or `""`.
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The first value of `name`, trimmed, or `None` when blank.
    fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    fn take_file(&mut self, field: &str) -> Option<PostedFile> {
        let at = self.files.iter().position(|f| f.field == field)?;
        Some(self.files.remove(at))
    }

    /// Reads a `multipart/form-data` body; a file input left empty is no file.
    async fn from_multipart(
        multipart: Result<Multipart, MultipartRejection>,
    ) -> Result<Self, Response> {
        let mut multipart = multipart.map_err(|_| unreadable_form())?;
        let mut posted = Self::default();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => return Ok(posted),
                Err(error) => return Err(multipart_error(error.status())),
            };
            let name = field.name().unwrap_or_default().to_owned();
            match field.file_name().map(str::to_owned) {
                Some(file_name) => {
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| multipart_error(e.status()))?;
                    if file_name.is_empty() && bytes.is_empty() {
                        continue;
                    }
                    posted.files.push(PostedFile {
                        field: name,
                        file_name,
                        bytes: bytes.to_vec(),
                    });
                }
                None => {
                    let text = field
                        .text()
                        .await
                        .map_err(|e| multipart_error(e.status()))?;
                    posted.fields.push((name, text));
                }
            }
        }
    }
}

fn unreadable_form() -> Response {
    denied_page(
        StatusCode::BAD_REQUEST,
        "请求有误",
        "表单内容无法读取，请返回上一页重新填写后提交。",
    )
}

fn multipart_error(status: StatusCode) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        denied_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "上传的文件过大",
            &format!(
                "每份扫描件不能超过 {} MB，一次提交的扫描件合计不能超过 {} MB。请降低扫描分辨率或压缩后，返回上一页重新上传。",
                MAX_UPLOAD_BYTES / 1024 / 1024,
                SCANS_PER_FORM * MAX_UPLOAD_BYTES / 1024 / 1024
            ),
        )
    } else {
        unreadable_form()
    }
}

// ---------------------------------------------------------------------------
// Sign-in by SMS code, sign-out

#[derive(Template, WebTemplate)]
#[template(path = "citizen_signin.html")]
struct SignInPage {
    /// What the person typed, shown again in the form they typed it into.
    id_number: String,
    name: String,
    /// The code was requested: the page asks for it.
    code_sent: bool,
    notice: Option<String>,
    error: Option<String>,
    errors: Vec<PageError>,
}

impl SignInPage {
    fn error_for(&self, anchor: &str) -> Option<String> {
        error_for(&self.errors, anchor)
    }
}

async fn sign_in_form(Query(query): Query<NoticeQuery>) -> Response {
    let notice = match query.notice.as_deref() {
        Some("expired") => Some("登录已过期或已退出，请重新获取短信验证码登录。".to_owned()),
        Some("signed-out") => Some("您已安全退出登录。".to_owned()),
        _ => None,
    };
    SignInPage {
        id_number: String::new(),
        name: String::new(),
        code_sent: false,
        notice,
        error: None,
        errors: Vec::new(),
    }
    .into_response()
}

fn sign_in_errors(errors: &[FieldError]) -> Vec<PageError> {
    errors
        .iter()
        .map(|e| PageError {
            anchor: match e.field.as_str() {
                "id_number" | "name" | "code" => e.field.clone(),
                _ => "id_number".to_owned(),
            },
            message: e.message.clone(),
        })
        .collect()
}

/// With a `Retry-After` when the refusal says how long to wait.
fn with_retry_after(mut response: Response, error: &ServiceError) -> Response {
    if let Some(seconds) = Problem::from(error).retry_after_seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// 获取短信验证码: the same answer whoever was named; then the page asks
/// for the code.
async fn request_code(State(state): State<AppState>, client: Client, form: Fields) -> Response {
    let id_number = form.get("id_number").trim().to_owned();
    let name = form.get("name").trim().to_owned();
    match state
        .services
        .request_otp(&id_number, &name, &client)
        .await
        .inspect(|_| crate::http::metrics::otp_request(true))
        .inspect_err(|_| crate::http::metrics::otp_request(false))
    {
        Ok(answer) => SignInPage {
            id_number,
            name,
            code_sent: true,
            notice: Some(answer.message.to_owned()),
            error: None,
            errors: Vec::new(),
        }
        .into_response(),
        Err(error) => {
            let (status, detail, errors) = alert_of(&error);
            let page = SignInPage {
                id_number,
                name,
                code_sent: false,
                notice: None,
                error: Some(detail),
                errors: sign_in_errors(&errors),
            };
            with_retry_after((status, page).into_response(), &error)
        }
    }
}

/// 登录: ID number, name and the code; opens the cookie session and goes to
/// 我的办件.
async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    form: Fields,
) -> Response {
    let id_number = form.get("id_number").trim().to_owned();
    let name = form.get("name").trim().to_owned();
    match state
        .services
        .sign_in_citizen(&id_number, &name, form.get("code"), &client)
        .await
    {
        Ok(signed_in) => {
            let mut response = see_other("/my");
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&signed_in.token, secure_cookies(&state.config, &headers)),
            );
            response
        }
        Err(error) => {
            let (status, detail, errors) = alert_of(&error);
            let page = SignInPage {
                id_number,
                name,
                code_sent: true,
                notice: None,
                error: Some(detail),
                errors: sign_in_errors(&errors),
            };
            with_retry_after((status, page).into_response(), &error)
        }
    }
}

/// 退出登录: the session ends and the cookie goes.
async fn sign_out(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = state
        .services
        .sign_out_citizen(&session.token, &session.principal, &client)
        .await
    {
        return service_error_page(&error);
    }
    let mut response = see_other("/my/signin?notice=signed-out");
    response.headers_mut().insert(
        header::SET_COOKIE,
        clear_session_cookie(secure_cookies(&state.config, &headers)),
    );
    response
}

// ---------------------------------------------------------------------------
// 我的办件

#[derive(Template, WebTemplate)]
#[template(path = "citizen_cases.html")]
struct MyCasesPage {
    citizen: CitizenNav,
    notice: Option<&'static str>,
    cases: Vec<CaseLine>,
}

struct CaseLine {
    application_no: String,
    status: String,
    status_label: String,
    step: String,
    due: String,
    overdue: bool,
    received: String,
}

/// The step a case is at, by the guide's name for it.
fn step_label(status: &str, guide: &sscard_domain::guide::Guide) -> String {
    let state = CaseState::ALL.into_iter().find(|s| s.code() == status);
    match state {
        Some(CaseState::AwaitingSupplement) => "等待您补正材料".to_owned(),
        Some(state) if state.is_terminal() => "办理完毕".to_owned(),
        Some(state) => state
            .step()
            .and_then(|role| guide.step_for(role))
            .map_or_else(String::new, |s| format!("{}（{}）", s.step, s.role)),
        None => String::new(),
    }
}

async fn my_cases(
    State(state): State<AppState>,
    session: CitizenSession,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let cases = match state.services.my_applications(&session.principal).await {
        Ok(cases) => cases,
        Err(error) => return service_error_page(&error),
    };
    let guide = match state.services.current_guide().await {
        Ok(published) => published.guide,
        Err(error) => return service_error_page(&error),
    };
    let notice = match query.notice.as_deref() {
        Some("already-submitted") => {
            Some("这份申请表已经提交过了，请在下面的办件中查看，无需重复提交。")
        }
        _ => None,
    };
    let cases = cases
        .into_iter()
        .rev()
        .map(|case| CaseLine {
            step: step_label(&case.status, &guide),
            due: case.step_due.map(day).unwrap_or_default(),
            overdue: case.overdue,
            received: time(case.received_at),
            application_no: case.application_no,
            status: case.status,
            status_label: case.status_label,
        })
        .collect();
    MyCasesPage {
        citizen: CitizenNav::of(&session),
        notice,
        cases,
    }
    .into_response()
}

// ---------------------------------------------------------------------------
// 网上申请: the form, 预审 and 提交

/// What the person typed, shown again after 预审 or a refused submission.
struct ApplyValues {
    mobile: String,
    address: String,
    card_number: String,
    delivery_method: String,
    recipient: String,
    delivery_mobile: String,
    delivery_address: String,
    declaration: bool,
    /// The idempotency key of this form: a double submission gives the
    /// first case.
    form_key: String,
}

/// One material's scan input, with a scan uploaded in an earlier round.
struct ScanSlot {
    code: String,
    name: String,
    hint: String,
    upload_id: Option<String>,
    upload_name: Option<String>,
    error: Option<String>,
}

/// The outcome of 预审, as the page shows it.
struct PrecheckView {
    ok: bool,
    materials: Vec<MaterialView>,
    notice: Option<OneTimeNotice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "citizen_apply.html")]
struct ApplyPage {
    citizen: CitizenNav,
    name: String,
    id_number_masked: String,
    mobile_on_record: Option<String>,
    cards: Vec<OwnCard>,
    values: ApplyValues,
    scans: Vec<ScanSlot>,
    delivery_methods: Vec<DeliveryOption>,
    summary: Option<String>,
    errors: Vec<PageError>,
    precheck: Option<PrecheckView>,
    scan_accept: &'static str,
}

impl ApplyPage {
    fn error_for(&self, anchor: &str) -> Option<String> {
        error_for(&self.errors, anchor)
    }
}

/// A choice of 结果领取方式.
struct DeliveryOption {
    code: &'static str,
    label: &'static str,
    hint: &'static str,
    checked: bool,
}

/// The delivery methods in the order the form offers them.
fn delivery_methods(chosen: &str) -> Vec<DeliveryOption> {
    [
        DeliveryMethod::Online,
        DeliveryMethod::Window,
        DeliveryMethod::Express,
    ]
    .into_iter()
    .map(|m| DeliveryOption {
        code: m.code(),
        label: m.label_zh(),
        hint: match m {
            DeliveryMethod::Online => "办结后在“我的办件”中查看办理结果",
            DeliveryMethod::Window => "办结后到综合受理1-2号窗口领取业务反馈单",
            DeliveryMethod::Express => "邮费由政府支付；请填写下面的收件信息",
        },
        checked: m.code() == chosen,
    })
    .collect()
}

/// The scan inputs of the online form: one per material the guide requires
/// of a holder applying in person.
async fn scan_slots(state: &AppState) -> Result<Vec<ScanSlot>, ServiceError> {
    let guide = state.services.current_guide().await?.guide;
    let circumstances = Circumstances {
        has_agent: false,
        is_employer_batch: false,
    };
    Ok(required_materials(&guide, circumstances)
        .into_iter()
        .map(|m| ScanSlot {
            code: m.code.clone(),
            name: m.name.clone(),
            hint: match m.code.as_str() {
                "application_form" => "可不上传：本网页填写并勾选承诺后即为申请表；已填写纸质申请表并签名的，也可上传其扫描件。".to_owned(),
                _ if m.waivable => format!(
                    "可不上传：{}（系统自动核验您的社会保障卡）。核验不通过时，请上传卡片正反面的扫描件。",
                    m.waiver_method.clone().unwrap_or_else(|| "可减免".to_owned())
                ),
                _ => "请上传扫描件。".to_owned(),
            },
            upload_id: None,
            upload_name: None,
            error: None,
        })
        .collect())
}

async fn apply_form(State(state): State<AppState>, session: CitizenSession) -> Response {
    let defaults = match state
        .services
        .citizen_form_defaults(&session.principal)
        .await
    {
        Ok(defaults) => defaults,
        Err(error) => return service_error_page(&error),
    };
    let scans = match scan_slots(&state).await {
        Ok(scans) => scans,
        Err(error) => return service_error_page(&error),
    };
    let values = ApplyValues {
        mobile: String::new(),
        address: String::new(),
        card_number: String::new(),
        delivery_method: DeliveryMethod::Online.code().to_owned(),
        recipient: defaults.name.clone(),
        delivery_mobile: String::new(),
        delivery_address: String::new(),
        declaration: false,
        form_key: uuid::Uuid::new_v4().to_string(),
    };
    apply_page(&session, defaults, values, scans).into_response()
}

fn apply_page(
    session: &CitizenSession,
    defaults: CitizenFormDefaults,
    values: ApplyValues,
    scans: Vec<ScanSlot>,
) -> ApplyPage {
    let delivery_methods = delivery_methods(&values.delivery_method);
    ApplyPage {
        citizen: CitizenNav::of(session),
        name: defaults.name,
        id_number_masked: defaults.id_number_masked,
        mobile_on_record: defaults.mobile_masked,
        cards: defaults.cards,
        values,
        scans,
        delivery_methods,
        summary: None,
        errors: Vec::new(),
        precheck: None,
        scan_accept: SCAN_ACCEPT,
    }
}

/// The page's input for a field of the application (the anchor of its
/// error); `materials[i]` names the i-th material sent.
fn apply_anchor(field: &str, sent: &[String]) -> String {
    let material = |code: &str| format!("scan_{code}");
    match field {
        "applicant.mobile" => "mobile".to_owned(),
        "applicant.address" => "address".to_owned(),
        "card_number" => "card_number".to_owned(),
        "declaration" => "declaration".to_owned(),
        "delivery.method" => "delivery_online".to_owned(),
        "delivery.recipient" => "delivery_recipient".to_owned(),
        "delivery.mobile" => "delivery_mobile".to_owned(),
        "delivery.address" => "delivery_address".to_owned(),
        other => {
            if let Some(code) = other.strip_prefix("materials.") {
                return material(code);
            }
            let index = other
                .strip_prefix("materials[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
            match index.and_then(|i| sent.get(i)) {
                Some(code) => material(code),
                // The applicant's name and ID number come from the
                // registry; their problems belong to the applicant box.
                None => "applicant".to_owned(),
            }
        }
    }
}

/// Stores each chosen scan of `slots` (field `scan_<code>`) and keeps a scan
/// of an earlier round (`upload_<code>`) unless removed; a refused file is
/// reported on its slot.
async fn take_scans(
    state: &AppState,
    session: &CitizenSession,
    client: &Client,
    posted: &mut Posted,
    slots: &mut [ScanSlot],
    errors: &mut Vec<PageError>,
) {
    for slot in slots.iter_mut() {
        let anchor = format!("scan_{}", slot.code);
        if !posted.checked(&format!("remove_{}", slot.code)) {
            slot.upload_id = posted.optional(&format!("upload_{}", slot.code));
            slot.upload_name = posted.optional(&format!("upload_name_{}", slot.code));
        }
        let Some(file) = posted.take_file(&anchor) else {
            continue;
        };
        match state
            .services
            .store_upload(
                CaseCaller::Citizen(&session.principal),
                &file.file_name,
                file.bytes,
                client,
            )
            .await
        {
            Ok(upload) => {
                slot.upload_id = Some(upload.upload_id);
                slot.upload_name = Some(upload.file_name);
            }
            Err(error) => {
                let problem = Problem::from(&error);
                let message = problem
                    .errors
                    .first()
                    .map_or(problem.detail, |e| e.message.clone());
                errors.push(PageError {
                    anchor,
                    message: format!("{}：{message}", slot.name),
                });
            }
        }
    }
}

/// 预审 or 提交 (the button pressed): every problem at once next to its
/// field; a submitted case opens on its page.
async fn apply(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut posted = match Posted::from_multipart(multipart).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let defaults = match state
        .services
        .citizen_form_defaults(&session.principal)
        .await
    {
        Ok(defaults) => defaults,
        Err(error) => return service_error_page(&error),
    };
    let mut scans = match scan_slots(&state).await {
        Ok(scans) => scans,
        Err(error) => return service_error_page(&error),
    };
    let mut errors = Vec::new();
    take_scans(
        &state,
        &session,
        &client,
        &mut posted,
        &mut scans,
        &mut errors,
    )
    .await;
    let values = ApplyValues {
        mobile: posted.get("mobile").trim().to_owned(),
        address: posted.get("address").trim().to_owned(),
        card_number: posted.get("card_number").trim().to_owned(),
        delivery_method: posted.get("delivery_method").trim().to_owned(),
        recipient: posted.get("delivery_recipient").trim().to_owned(),
        delivery_mobile: posted.get("delivery_mobile").trim().to_owned(),
        delivery_address: posted.get("delivery_address").trim().to_owned(),
        declaration: posted.checked("declaration"),
        form_key: posted
            .optional("form_key")
            .filter(|key| key.len() <= 64)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let express = values.delivery_method == DeliveryMethod::Express.code();
    let sent: Vec<String> = scans
        .iter()
        .filter(|s| s.upload_id.is_some())
        .map(|s| s.code.clone())
        .collect();
    let input = ApplicationInput {
        channel: Some("online".to_owned()),
        service: Some(SERVICE_ACTIVATE.to_owned()),
        applicant: ApplicantInput {
            name: defaults.name.clone(),
            id_number: defaults.id_number.clone(),
            mobile: values.mobile.clone(),
            address: Some(values.address.clone()).filter(|a| !a.is_empty()),
        },
        card_number: values.card_number.clone(),
        agent: None,
        delivery: DeliveryInput {
            method: values.delivery_method.clone(),
            recipient: Some(values.recipient.clone()).filter(|_| express),
            mobile: Some(values.delivery_mobile.clone()).filter(|_| express),
            address: Some(values.delivery_address.clone()).filter(|_| express),
        },
        inbound_waybill: None,
        received_at: None,
        materials: scans
            .iter()
            .filter_map(|s| {
                s.upload_id.as_ref().map(|id| MaterialInput {
                    code: s.code.clone(),
                    status: None,
                    reason: None,
                    upload_id: Some(id.clone()),
                })
            })
            .collect(),
        declaration: values.declaration,
    };
    let caller = CaseCaller::Citizen(&session.principal);
    let submitting = posted.get("action") == "submit";
    let mut status = StatusCode::OK;
    let mut summary = None;
    let mut precheck = None;
    if submitting && errors.is_empty() {
        match state
            .services
            .submit_application(caller, &input, Some(&values.form_key), &client)
            .await
        {
            Ok((case, _)) => {
                return see_other(&format!(
                    "/my/cases/{}?notice=submitted",
                    case.application_no
                ));
            }
            Err(error) if error.code() == "IDEMPOTENCY_KEY_REUSED" => {
                return see_other("/my?notice=already-submitted");
            }
            Err(error) => {
                let (code, detail, field_errors) = alert_of(&error);
                status = code;
                summary = Some(detail);
                errors.extend(field_errors.iter().map(|e| PageError {
                    anchor: apply_anchor(&e.field, &sent),
                    message: e.message.clone(),
                }));
            }
        }
    } else {
        match state.services.precheck_application(caller, &input).await {
            Ok(report) => {
                errors.extend(report.errors.iter().map(|e| PageError {
                    anchor: apply_anchor(&e.field, &sent),
                    message: e.message.clone(),
                }));
                precheck = Some(PrecheckView {
                    ok: report.ok && errors.is_empty(),
                    materials: report.materials,
                    notice: report.notice,
                });
            }
            Err(error) => {
                let (code, detail, _) = alert_of(&error);
                status = code;
                summary = Some(detail);
            }
        }
        if submitting {
            status = StatusCode::UNPROCESSABLE_ENTITY;
        }
    }
    if !errors.is_empty() && summary.is_none() {
        summary = Some(format!(
            "申请表有 {} 处需要修改，请按提示逐项修改{}。",
            errors.len(),
            if submitting {
                "后重新提交"
            } else {
                "，再预审或提交"
            }
        ));
    }
    for slot in &mut scans {
        slot.error = error_for(&errors, &format!("scan_{}", slot.code));
    }
    let mut page = apply_page(&session, defaults, values, scans);
    page.summary = summary;
    page.errors = errors;
    page.precheck = precheck;
    (status, page).into_response()
}

// ---------------------------------------------------------------------------
// The case as the holder sees it, and the supplement

struct StepLine {
    time: String,
    action: String,
    state: String,
    actor: String,
    opinion: Option<String>,
    notice: Vec<String>,
    /// The SMS notices this step sent (number masked).
    sms: Vec<super::cases::SmsLine>,
}

#[derive(Template, WebTemplate)]
#[template(path = "citizen_case.html")]
struct CasePage {
    citizen: CitizenNav,
    notice: Option<&'static str>,
    case: CaseView,
    received: String,
    step_due: Option<String>,
    deadline: Option<String>,
    steps: Vec<StepLine>,
    /// The delivered result: (label, value) lines.
    delivery: Vec<(&'static str, String)>,
    can_supplement: bool,
    /// A scan input for each material of the notice.
    supplement: Vec<ScanSlot>,
    summary: Option<String>,
    errors: Vec<PageError>,
    scan_accept: &'static str,
    /// 好差评 given.
    rating: Option<super::cases::RatingLine>,
    /// 好差评 form, once the case has ended and while it is not rated.
    rating_form: Option<super::cases::RatingForm>,
}

fn delivery_lines(delivery: Option<&serde_json::Value>) -> Vec<(&'static str, String)> {
    let Some(delivery) = delivery else {
        return Vec::new();
    };
    let text = |key: &str| {
        delivery
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let at = |key: &str| {
        text(key)
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|at| time(at.with_timezone(&Utc)))
    };
    [
        ("送达方式", text("method_label")),
        ("说明", text("note")),
        ("领取人", text("collector")),
        ("快递公司", text("carrier")),
        ("快递运单号", text("waybill_no")),
        ("邮费", text("paid_by_label")),
        ("寄送状态", text("delivery_status_label")),
        ("送达时间", at("delivered_at")),
        ("寄出时间", at("posted_at")),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.map(|v| (label, v)))
    .collect()
}

/// What is wrong with a material of a notice, in a few words (the notice
/// itself says what to bring).
fn notice_problem(item: &NoticeItem) -> String {
    match &item.problem {
        NoticeProblem::Missing => "未提交".to_owned(),
        NoticeProblem::Defective { reason } if reason.trim().is_empty() => "不符合要求".to_owned(),
        NoticeProblem::Defective { reason } => format!("不符合要求（{}）", reason.trim()),
        NoticeProblem::NotWaivable => "不能减免，须提交".to_owned(),
    }
}

fn case_page_of(
    session: &CitizenSession,
    case: CaseView,
    notice: Option<&'static str>,
) -> CasePage {
    let steps = case
        .timeline
        .iter()
        .map(|step| StepLine {
            time: time(step.occurred_at),
            action: step.action_label.clone(),
            state: step.to_state_label.clone(),
            actor: step.actor_name.clone(),
            opinion: step.opinion.clone(),
            notice: step
                .notice
                .as_ref()
                .map(|n| {
                    n.items
                        .iter()
                        .map(|i| format!("{}：{}", i.name, notice_problem(i)))
                        .collect()
                })
                .unwrap_or_default(),
            sms: step
                .notifications
                .iter()
                .map(super::cases::SmsLine::of)
                .collect(),
        })
        .collect();
    let can_supplement = case.allowed_actions.iter().any(|a| a == "supplement");
    let supplement = case
        .notice
        .as_ref()
        .map(|notice| {
            notice
                .items
                .iter()
                .map(|item| ScanSlot {
                    code: item.code.clone(),
                    name: item.name.clone(),
                    hint: notice_problem(item),
                    upload_id: None,
                    upload_name: None,
                    error: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let ended = matches!(case.status.as_str(), "completed" | "refused");
    CasePage {
        citizen: CitizenNav::of(session),
        rating: case.rating.as_ref().map(super::cases::RatingLine::of),
        rating_form: (ended && case.rating.is_none()).then(|| super::cases::RatingForm {
            levels: super::cases::level_choices(""),
            comment: String::new(),
            error: None,
        }),
        notice,
        received: time(case.received_at),
        step_due: case.step_due.map(day),
        deadline: case.deadline.map(day),
        steps,
        delivery: delivery_lines(case.delivery.as_ref()),
        can_supplement,
        supplement,
        summary: None,
        errors: Vec::new(),
        scan_accept: SCAN_ACCEPT,
        case,
    }
}

impl CasePage {
    /// The case ended with the card's social-security function active.
    fn activated(&self) -> bool {
        self.case.status == "completed"
            && matches!(
                self.case.outcome.as_deref(),
                Some("approved" | "already_active")
            )
    }
}

async fn case_page(
    State(state): State<AppState>,
    session: CitizenSession,
    Path(application_no): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let case = match state
        .services
        .application(CaseCaller::Citizen(&session.principal), &application_no)
        .await
    {
        Ok(case) => case,
        Err(ServiceError::NotFound { .. }) => return not_found_page(),
        Err(error) => return service_error_page(&error),
    };
    let notice = match query.notice.as_deref() {
        Some("submitted") => Some(
            "申请已提交。受理岗将审核您的申请材料，办理进度会以短信通知您预留的手机号；您也可以随时在本页查看。",
        ),
        Some("supplemented") => Some("补正材料已提交，您的申请重新进入受理，请留意短信通知。"),
        Some("rated") => Some("感谢您的评价！"),
        _ => None,
    };
    case_page_of(&session, case, notice).into_response()
}

/// 补正: a scan for each material of the one-time notice; the case returns
/// to acceptance.
async fn supplement(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    Path(application_no): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut posted = match Posted::from_multipart(multipart).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let caller = CaseCaller::Citizen(&session.principal);
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(ServiceError::NotFound { .. }) => return not_found_page(),
        Err(error) => return service_error_page(&error),
    };
    let mut page = case_page_of(&session, case, None);
    let mut errors = Vec::new();
    take_scans(
        &state,
        &session,
        &client,
        &mut posted,
        &mut page.supplement,
        &mut errors,
    )
    .await;
    let sent: Vec<String> = page
        .supplement
        .iter()
        .filter(|s| s.upload_id.is_some())
        .map(|s| s.code.clone())
        .collect();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if errors.is_empty() {
        let input = ActionInput {
            materials: page
                .supplement
                .iter()
                .filter_map(|s| {
                    s.upload_id.as_ref().map(|id| MaterialInput {
                        code: s.code.clone(),
                        status: None,
                        reason: None,
                        upload_id: Some(id.clone()),
                    })
                })
                .collect(),
            ..ActionInput::default()
        };
        match state
            .services
            .act_on_application(
                caller,
                &application_no,
                sscard_domain::case::CaseActionKind::Supplement,
                &input,
                &client,
            )
            .await
        {
            Ok(case) => {
                return see_other(&format!(
                    "/my/cases/{}?notice=supplemented",
                    case.application_no
                ));
            }
            Err(error) => {
                let (code, detail, field_errors) = alert_of(&error);
                status = code;
                page.summary = Some(detail);
                errors.extend(field_errors.iter().map(|e| {
                    let index = e
                        .field
                        .strip_prefix("materials[")
                        .and_then(|rest| rest.split(']').next())
                        .and_then(|i| i.parse::<usize>().ok());
                    PageError {
                        anchor: match index.and_then(|i| sent.get(i)) {
                            Some(code) => format!("scan_{code}"),
                            None => page
                                .supplement
                                .first()
                                .map_or_else(String::new, |s| format!("scan_{}", s.code)),
                        },
                        message: e.message.clone(),
                    }
                }));
            }
        }
    }
    if page.summary.is_none() {
        page.summary = Some("补正材料有误，请按提示修改后重新提交。".to_owned());
    }
    for slot in &mut page.supplement {
        slot.error = error_for(&errors, &format!("scan_{}", slot.code));
    }
    page.errors = errors;
    (status, page).into_response()
}

/// 好差评: the holder rates their ended case, once.
async fn rate(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    Path(application_no): Path<String>,
    fields: super::staff::Fields,
) -> Response {
    let caller = CaseCaller::Citizen(&session.principal);
    let input = crate::service::ratings::RatingInput {
        level: fields.get("level").to_owned(),
        comment: fields.optional("comment"),
    };
    let error = match state
        .services
        .rate_case(caller, &application_no, &input, &client)
        .await
    {
        Ok(rating) => {
            return see_other(&format!(
                "/my/cases/{}?notice=rated#rating",
                rating.application_no
            ));
        }
        Err(ServiceError::NotFound { .. }) => return not_found_page(),
        Err(error) => error,
    };
    let case = match state.services.application(caller, &application_no).await {
        Ok(case) => case,
        Err(ServiceError::NotFound { .. }) => return not_found_page(),
        Err(error) => return service_error_page(&error),
    };
    let mut page = case_page_of(&session, case, None);
    let (status, detail, field_errors) = alert_of(&error);
    match &mut page.rating_form {
        Some(form) => {
            form.levels = super::cases::level_choices(fields.get("level"));
            form.comment = fields.get("comment").to_owned();
            form.error = Some(field_errors.first().map_or(detail, |e| e.message.clone()));
        }
        None => page.summary = Some(detail),
    }
    (status, page).into_response()
}

/// The holder's own scan, shown in the browser.
async fn scan(
    State(state): State<AppState>,
    session: CitizenSession,
    Path(upload_id): Path<String>,
) -> Response {
    match state
        .services
        .upload_content(CaseCaller::Citizen(&session.principal), &upload_id)
        .await
    {
        Ok(content) => file_response(content),
        Err(ServiceError::NotFound { .. }) => not_found_page(),
        Err(error) => service_error_page(&error),
    }
}
