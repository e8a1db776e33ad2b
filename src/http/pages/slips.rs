//! 业务反馈单 on the pages: the download links of the staff's case page and
//! the cardholder's, and the public verification pages `/verify` (a code
//! or the PDF) and `/verify/{code}` (where the slip's QR code leads). The
//! same use cases as the API; the verification routes are rate-limited
//! alike.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::staff::{Fields, see_other, service_error_page};
use crate::clock::to_china;
use crate::http::AppState;
use crate::http::api::slips::{VERIFY_BODY_LIMIT, pdf_response};
use crate::http::auth::{CitizenSession, Session};
use crate::http::problem::Problem;
use crate::service::accounts::Client;
use crate::service::cases::CaseCaller;
use crate::service::slips::{SlipVerification, group_code, normalize_code};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/verify", get(form).post(by_code))
        .route("/verify/{verification_code}", get(result))
        .route(
            "/verify/upload",
            post(by_file).layer(DefaultBodyLimit::max(VERIFY_BODY_LIMIT)),
        )
        .route("/cases/{application_no}/slip.pdf", get(staff_download))
        .route("/my/cases/{application_no}/slip.pdf", get(citizen_download))
}

#[derive(Template, WebTemplate, Default)]
#[template(path = "verify.html")]
struct VerifyPage {
    answer: Option<SlipVerification>,
    code_grouped: Option<String>,
    issued_at: String,
    /// Time, step, post.
    steps: Vec<(String, String, String)>,
    /// What was typed into the code field (not personal), kept on a refusal.
    typed: String,
    error: Option<String>,
}

impl VerifyPage {
    fn of(answer: SlipVerification) -> Self {
        let (issued_at, steps) = answer.certified.as_ref().map_or_else(
            || (String::new(), Vec::new()),
            |slip| {
                (
                    to_china(slip.issued_at)
                        .format("%Y-%m-%d %H:%M")
                        .to_string(),
                    slip.steps
                        .iter()
                        .map(|s| {
                            (
                                to_china(s.occurred_at).format("%Y-%m-%d %H:%M").to_string(),
                                s.action_label.clone(),
                                s.role_label.clone(),
                            )
                        })
                        .collect(),
                )
            },
        );
        Self {
            code_grouped: answer.verification_code.as_deref().map(group_code),
            issued_at,
            steps,
            answer: Some(answer),
            ..Self::default()
        }
    }
}

async fn form() -> Response {
    VerifyPage::default().into_response()
}

/// The code form: a well-formed code goes to its result page (where the QR
/// code leads too); anything else is shown again with what is wrong.
async fn by_code(fields: Fields) -> Response {
    let typed: String = fields.get("code").trim().chars().take(40).collect();
    match normalize_code(&typed) {
        Some(code) => see_other(&format!("/verify/{code}")),
        None => (
            StatusCode::UNPROCESSABLE_ENTITY,
            VerifyPage {
                error: Some(
                    "验证码应为16位字母和数字（不区分大小写，可带短横线），请对照反馈单下方的验证码重新输入。"
                        .to_owned(),
                ),
                typed,
                ..VerifyPage::default()
            },
        )
            .into_response(),
    }
}

async fn result(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match state.services.verify_slip_code(&code).await {
        Ok(answer) => VerifyPage::of(answer).into_response(),
        Err(error) => service_error_page(&error),
    }
}

async fn by_file(
    State(state): State<AppState>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let refused = |problem: Problem| {
        (
            problem.status_code(),
            VerifyPage {
                error: Some(problem.detail),
                ..VerifyPage::default()
            },
        )
            .into_response()
    };
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return refused(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "请求格式不受支持",
                format!("请通过本页的表单上传文件：{}", rejection.body_text()),
            ));
        }
    };
    let bytes = match crate::http::api::applications::read_file_field(&mut multipart, "file").await
    {
        Ok((_, bytes)) => bytes,
        Err(problem) => return refused(problem),
    };
    match state.services.verify_slip_file(&bytes).await {
        Ok(answer) => VerifyPage::of(answer).into_response(),
        Err(error) => refused(Problem::from(&error)),
    }
}

/// 下载业务反馈单 from the staff's case page.
async fn staff_download(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    Path(application_no): Path<String>,
) -> Response {
    let caller = CaseCaller::Staff(&session.principal);
    match state
        .services
        .slip_pdf(caller, &application_no, &client)
        .await
    {
        Ok(slip) => pdf_response(slip),
        Err(error) => service_error_page(&error),
    }
}

/// 下载业务反馈单 from the cardholder's case page: their electronic result.
async fn citizen_download(
    State(state): State<AppState>,
    session: CitizenSession,
    client: Client,
    Path(application_no): Path<String>,
) -> Response {
    let caller = CaseCaller::Citizen(&session.principal);
    match state
        .services
        .slip_pdf(caller, &application_no, &client)
        .await
    {
        Ok(slip) => pdf_response(slip),
        Err(error) => service_error_page(&error),
    }
}
