//! 业务反馈单 over JSON: the slip's PDF of an ended case, its verification
//! by code or by the file, and the bureau's public keys.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::http::AppState;
use crate::http::auth::CallerSession;
use crate::http::problem::{ApiPath, Problem};
use crate::service::accounts::Client;
use crate::service::slips::{
    MAX_VERIFY_BYTES, SlipPdf, SlipPublicKeys, SlipVerification, slip_file_name,
};

/// The body limit of `POST /api/v1/slips/verify`: one PDF plus framing.
pub const VERIFY_BODY_LIMIT: usize = MAX_VERIFY_BYTES + 64 * 1024;

/// The 业务反馈单 of an ended case (已办结 in any outcome, or 不予受理) as an
/// A4 PDF: issued on the first request, the same bytes on every later one.
/// Bureau staff, or the signed-in cardholder for their own case.
#[utoipa::path(get, path = "/api/v1/applications/{application_no}/slip.pdf", tag = "slips", security(("bearer" = [])),
    params(("application_no" = String, Path, example = "SQ-20261127-000001")),
    responses(
        (status = 200, content_type = "application/pdf", description = "the slip; `X-Verification-Code` carries its verification code"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "APPLICATION_NOT_FOUND (also another person's case)"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "SLIP_NOT_AVAILABLE: the case has not ended"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "SLIP_FONTS_MISSING: the fonts are not installed (scripts/setup.sh)"),
    ))]
pub async fn download(
    State(state): State<AppState>,
    caller: CallerSession,
    client: Client,
    ApiPath(application_no): ApiPath<String>,
) -> Result<Response, Problem> {
    let slip = state
        .services
        .slip_pdf(caller.case_caller(), &application_no, &client)
        .await?;
    Ok(pdf_response(slip))
}

/// A slip as a downloaded, uncached PDF that never runs as a page.
pub fn pdf_response(slip: SlipPdf) -> Response {
    let name = slip_file_name(&slip.application_no);
    let ascii = format!("slip-{}.pdf", slip.application_no);
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    );
    let mut response = Response::new(Body::from(slip.bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&slip.verification_code) {
        headers.insert("x-verification-code", value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    response
}

/// Verifies a slip by its verification code (16 letters and digits, any
/// case, hyphens allowed). Public and rate-limited. Always `200`: a code
/// nobody issued is answered `genuine: false`, `result: SLIP_NOT_FOUND`, in
/// the same shape.
#[utoipa::path(get, path = "/api/v1/slips/{verification_code}", tag = "slips",
    params(("verification_code" = String, Path, example = "7K3M-9QX2-TB4H-WZ8C")),
    responses(
        (status = 200, body = SlipVerification, description = "genuine or not, and what the slip certifies (masked)"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "RATE_LIMITED"),
    ))]
pub async fn verify_code(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<SlipVerification>, Problem> {
    Ok(Json(state.services.verify_slip_code(&code).await?))
}

/// Verifies a slip's PDF file: the body is the file (`Content-Type:
/// application/pdf`) or a multipart form with the field `file`. Genuine only
/// when the file carries the code of an issued slip, its bytes' SM3 equals
/// the issued slip's and the signature verifies; an altered file is
/// `genuine: false`, `result: SLIP_ALTERED`. Public and rate-limited.
#[utoipa::path(post, path = "/api/v1/slips/verify", tag = "slips",
    request_body(content_type = "application/pdf", description = "the slip's PDF (or multipart/form-data with the field `file`)"),
    responses(
        (status = 200, body = SlipVerification),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "SLIP_FILE_EMPTY, UPLOAD_FIELD_MISSING"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "RATE_LIMITED"),
    ))]
pub async fn verify_file(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<SlipVerification>, Problem> {
    let bytes = file_of(request, &state).await?;
    Ok(Json(state.services.verify_slip_file(&bytes).await?))
}

/// The file of a verification request: the raw body, or the multipart
/// field `file`.
pub async fn file_of(request: Request, state: &AppState) -> Result<Vec<u8>, Problem> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|e| unsupported(&e.body_text()))?;
        let (_, bytes) = super::applications::read_file_field(&mut multipart, "file").await?;
        return Ok(bytes);
    }
    if content_type.starts_with("application/pdf")
        || content_type.starts_with("application/octet-stream")
    {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                crate::http::problem::payload_too_large()
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "MALFORMED_BODY",
                    "请求有误",
                    format!("无法读取上传的文件：{}", e.body_text()),
                )
            }
        })?;
        return Ok(bytes.to_vec());
    }
    Err(unsupported(
        "请以 Content-Type: application/pdf 发送反馈单文件本身，或以 multipart/form-data 上传（文件放在 file 字段）。",
    ))
}

fn unsupported(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "请求格式不受支持",
        detail,
    )
}

/// The bureau's SM2 public keys for slips: the one signing now and every
/// earlier one, with how the signed message is formed, so a third party
/// can check a slip's signature with its own tools.
#[utoipa::path(get, path = "/api/v1/slips/public-key", tag = "slips",
    responses((status = 200, body = SlipPublicKeys)))]
pub async fn public_key(State(state): State<AppState>) -> Result<Json<SlipPublicKeys>, Problem> {
    Ok(Json(state.services.slip_public_keys().await?))
}
