//! The system-to-system interface's HTTP side: a request carrying
//! `X-Bank-Code` on a route open to bank systems ([`Access::BankOrRoles`])
//! is authenticated by its SM2 signature instead of a session
//! ([`Services::authenticate_bank_request`]), and its answer — success or
//! problem — is signed with the bureau's key (`X-Timestamp`, `X-Key-Id`,
//! `X-Signature`). The scheme is in `docs/bank-interface.md`.
//!
//! [`Access::BankOrRoles`]: super::auth::Access::BankOrRoles
//! [`Services::authenticate_bank_request`]: crate::service::Services::authenticate_bank_request

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Session;
use super::problem::{Problem, payload_too_large};
use super::{AppState, JSON_BODY_LIMIT};
use crate::service::banks::{
    BankCaller, HEADER_BANK, HEADER_KEY_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    SignedRequest, canonical_response, is_nonce,
};

/// The largest answer that is signed (every answer of the bank routes is
/// far smaller).
const MAX_SIGNED_ANSWER: usize = 4 * 1024 * 1024;

/// Whether a request uses the bank signature scheme (it names a bank).
pub fn is_bank_signed(headers: &HeaderMap) -> bool {
    headers.contains_key(HEADER_BANK)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authenticates a bank system's signed request, runs the handler with the
/// [`BankCaller`], and signs the answer.
pub async fn authenticate(state: &AppState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = header_str(&parts.headers, "x-request-id").map(str::to_owned);
    let nonce = header_str(&parts.headers, HEADER_NONCE)
        .filter(|nonce| is_nonce(nonce))
        .unwrap_or_default()
        .to_owned();
    let response = match axum::body::to_bytes(body, JSON_BODY_LIMIT).await {
        Err(_) => payload_too_large().into_response(),
        Ok(bytes) => {
            let path_and_query = parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path(), |pq| pq.as_str())
                .to_owned();
            let signed = SignedRequest {
                bank_code: header_str(&parts.headers, HEADER_BANK),
                timestamp: header_str(&parts.headers, HEADER_TIMESTAMP),
                nonce: header_str(&parts.headers, HEADER_NONCE),
                signature: header_str(&parts.headers, HEADER_SIGNATURE),
                method: parts.method.as_str(),
                path_and_query: &path_and_query,
                body: &bytes,
            };
            match state.services.authenticate_bank_request(&signed).await {
                Ok(caller) => {
                    super::metrics::bank_request("accepted");
                    let mut request = Request::from_parts(parts, Body::from(bytes));
                    request.extensions_mut().insert(caller);
                    next.run(request).await
                }
                Err(error) => {
                    super::metrics::bank_request(error.code());
                    tracing::warn!(code = error.code(), "refused a bank system's request");
                    let mut response = Problem::from(error).into_response();
                    if response.status() == StatusCode::UNAUTHORIZED {
                        response.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("SSCARD-SM2 realm=\"sscard-bank\""),
                        );
                    }
                    response
                }
            }
        }
    };
    sign_answer(state, response, &nonce, request_id).await
}

/// Signs an answer: `X-Timestamp`, `X-Key-Id`, `X-Signature` over
/// [`canonical_response`]. A problem answer gets its request id first, so
/// the signed body is the body sent.
async fn sign_answer(
    state: &AppState,
    response: Response,
    nonce: &str,
    request_id: Option<String>,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(mut bytes) = axum::body::to_bytes(body, MAX_SIGNED_ANSWER).await else {
        tracing::error!("a bank answer was too large to sign");
        return Problem::internal().into_response();
    };
    if let Some(problem) = parts.extensions.get::<Problem>().cloned()
        && problem.request_id.is_none()
        && request_id.is_some()
    {
        let problem = Problem {
            request_id,
            ..problem
        };
        bytes = Bytes::from(serde_json::to_vec(&problem).unwrap_or_default());
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.extensions.insert(problem);
    }
    match state.services.bank_signer().await {
        Ok(signer) => {
            let timestamp = chrono::Utc::now().timestamp().to_string();
            let canonical = canonical_response(parts.status.as_u16(), nonce, &timestamp, &bytes);
            let signature = signer.sign(&canonical);
            for (name, value) in [
                (HEADER_TIMESTAMP, timestamp.as_str()),
                (HEADER_KEY_ID, signer.key_id()),
                (HEADER_SIGNATURE, signature.as_str()),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    parts.headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "cannot load the key that signs answers to banks; answering unsigned");
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Who called a bank route: a bank system (signed request) or a teller
/// (session).
#[derive(Clone, Debug)]
pub enum BankClient {
    System(BankCaller),
    Teller(Session),
}

impl<S: Send + Sync> FromRequestParts<S> for BankClient {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<BankCaller>() {
            return Ok(Self::System(caller.clone()));
        }
        Session::from_request_parts(parts, state)
            .await
            .map(Self::Teller)
    }
}
