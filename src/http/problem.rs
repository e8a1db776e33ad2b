//! The one error shape of the HTTP layer: `application/problem+json`
//! (RFC 9457) with a stable upper-snake `code`, a Chinese `title` and
//! `detail`, per-field `errors`, and the request id.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::{FieldError, ServiceError};

/// A problem answer. Rendered by [`IntoResponse`]; the request-id middleware
/// adds the request id before it leaves the server.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:sscard:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short Chinese summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What is wrong in this case and what to do, in Chinese.
    pub detail: String,
    /// The stable machine-readable code, e.g. `GUIDE_VERSION_NOT_FOUND`.
    pub code: String,
    /// One entry per field at fault; empty when not about input fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Quote this id when asking for help; it finds the server's log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds to wait before trying again (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:sscard:problem:{}", code.to_ascii_lowercase()),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            request_id: None,
            retry_after_seconds: None,
        }
    }

    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "未找到", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "系统内部错误",
            "系统暂时无法处理您的请求，请稍后重试；如仍有问题，请将请求编号告知工作人员（电话 0772-7215670）。",
        )
    }

    /// A field-level validation failure.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            "填写内容有误",
            detail,
        )
        .with_errors(errors)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sscard\""),
            );
        }
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        Self::from(&error)
    }
}

impl From<&ServiceError> for Problem {
    fn from(error: &ServiceError) -> Self {
        match error {
            ServiceError::Invalid {
                code,
                detail,
                errors,
            } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "填写内容有误",
                detail,
            )
            .with_errors(errors.clone()),
            ServiceError::NotFound { code, detail } => {
                Self::new(StatusCode::NOT_FOUND, code, "未找到", detail)
            }
            ServiceError::Conflict { code, detail } => {
                Self::new(StatusCode::CONFLICT, code, "与当前状态冲突", detail)
            }
            ServiceError::Unauthorized { code, detail } => {
                Self::new(StatusCode::UNAUTHORIZED, code, "未登录或登录已失效", detail)
            }
            ServiceError::Forbidden { code, detail } => {
                Self::new(StatusCode::FORBIDDEN, code, "无权办理", detail)
            }
            ServiceError::TooManyRequests {
                code,
                detail,
                retry_after_seconds,
            } => Self::new(StatusCode::TOO_MANY_REQUESTS, code, "操作过于频繁", detail)
                .with_retry_after(*retry_after_seconds),
            ServiceError::Upstream { code, detail } => {
                Self::new(StatusCode::BAD_GATEWAY, code, "外部服务暂不可用", detail)
            }
            ServiceError::NotReady { code, detail } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "服务暂不可用",
                detail,
            ),
            ServiceError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "服务暂不可用",
                    "系统暂时无法连接数据库，请稍后重试。",
                )
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Self::internal()
            }
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "请求格式不受支持",
                "请求内容须为 JSON，并带有 Content-Type: application/json 头。",
            ),
            JsonRejection::JsonSyntaxError(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                "请求内容不是有效的 JSON",
                format!(
                    "请求内容不是有效的 JSON，请检查括号、引号和逗号：{}",
                    e.body_text()
                ),
            ),
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_FAILED",
                "填写内容有误",
                format!("请求内容的字段不符合要求：{}", e.body_text()),
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                payload_too_large()
            }
            other => Self::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "请求有误",
                format!("无法读取请求内容：{}", other.body_text()),
            ),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "查询参数有误",
            format!(
                "查询参数有误，请核对参数名称和格式：{}",
                rejection.body_text()
            ),
        )
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
            "地址有误",
            format!("请求地址中的参数有误：{}", rejection.body_text()),
        )
    }
}

pub fn payload_too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "请求内容过大",
        "请求内容超过了允许的大小，请精简后重新提交。",
    )
}

/// What a person is told when a text holds the NUL character (U+0000):
/// no field of this system may hold it (PostgreSQL cannot store it, and no
/// person types it), on either database.
pub const NUL_CHARACTER_DETAIL: &str =
    "提交的内容含有空字符（U+0000），无法保存。请删除后重新提交（从其他系统复制粘贴时可能带入）。";

/// The problem of a text holding the NUL character.
pub fn nul_character() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "NUL_CHARACTER",
        "填写内容有误",
        NUL_CHARACTER_DETAIL,
    )
}

/// JSON body extractor whose rejections are problem answers. A string
/// holding the NUL character (`\u0000`) is refused as `NUL_CHARACTER`
/// before the body is decoded.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        let (parts, body) = request.into_parts();
        // The body within the limit the layers set (DefaultBodyLimit).
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|rejection| Problem::from(JsonRejection::BytesRejection(rejection)))?;
        if holds_escaped_nul(&bytes) {
            return Err(nul_character());
        }
        let axum::Json(value) = axum::Json::<T>::from_request(
            axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)),
            state,
        )
        .await?;
        Ok(Self(value))
    }
}

/// Whether a JSON text holds `\u0000` inside a string (an escaped
/// backslash followed by `u0000` is text, not NUL). A raw NUL byte is not
/// valid JSON and is refused by the decoder.
fn holds_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(&b"0000"[..]) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Query-string extractor whose rejections are problem answers.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);

/// Path extractor whose rejections are problem answers.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct ApiPath<T>(pub T);

#[cfg(test)]
mod tests {
    use super::holds_escaped_nul;

    #[test]
    fn an_escaped_nul_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(holds_escaped_nul(br#"{"name": "a\u0000b"}"#));
        assert!(holds_escaped_nul(br#"["\\", "\u0000"]"#));
        assert!(!holds_escaped_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(holds_escaped_nul(br#"{"name": "\u00001"}"#));
        assert!(!holds_escaped_nul(br#"{"name": "\u0001 \n \\"}"#));
        assert!(!holds_escaped_nul(b"{}"));
    }
}
