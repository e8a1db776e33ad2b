//! The thin web layer: JSON API under `/api`, Chinese HTML pages elsewhere,
//! both calling the same services. Handlers extract, call one use case and
//! render; no rule lives here.

pub mod api;
pub mod auth;
pub mod bank_signature;
pub mod client_address;
pub mod hardening;
pub mod limiter;
pub mod metrics;
pub mod pages;
pub mod problem;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::service::Services;
pub use hardening::{HttpConfig, Limit, RateLimits};
use problem::Problem;

/// The largest request body any JSON route accepts.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub services: Services,
    /// The deployment switches read at start-up (e.g. `secure_cookies`).
    pub config: Arc<HttpConfig>,
    /// The rate-limit buckets (read by `/metrics` for their pool).
    pub limiter: Arc<limiter::Limiter>,
}

/// The whole application: API, pages, static assets, API docs, and the
/// middleware every request passes.
pub fn router(services: Services, config: HttpConfig) -> Router {
    let config = Arc::new(config);
    // Before the first request is counted.
    metrics::install();
    // In memory for one SQLite node, in the database for PostgreSQL nodes.
    let limiter = Arc::new(limiter::Limiter::new(
        config.rate_limit_store,
        services.store(),
        config.rate_limits,
    ));
    let state = AppState {
        services,
        config: config.clone(),
        limiter: limiter.clone(),
    };
    Router::new()
        .merge(api::router())
        .merge(pages::router())
        .merge(api::docs())
        .merge(metrics::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .route_layer(middleware::from_fn_with_state(
            limiter,
            hardening::rate_limit,
        ))
        .route_layer(middleware::from_fn(metrics::record_request))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // The client behind trusted proxies, before anything reads it.
        .layer(middleware::from_fn_with_state(
            config.clone(),
            client_address::resolve,
        ))
        .layer(middleware::from_fn(hardening::limit_form_bodies))
        .layer(middleware::from_fn(hardening::refuse_nul_in_uri))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(middleware::from_fn(hardening::refuse_cross_site))
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(middleware::from_fn(finish_problem))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn_with_state(
            config,
            hardening::security_headers,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    // Only the path: query strings could carry personal data.
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                    )
                })
                // One access line per answer (status, latency) at info level,
                // inside the request span and so with its request id.
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// Puts the request id into every problem answer, so a person can quote it.
async fn finish_problem(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    let Some(problem) = response.extensions().get::<Problem>().cloned() else {
        return response;
    };
    if problem.request_id.is_some() || request_id.is_none() {
        return response;
    }
    let problem = Problem {
        request_id,
        ..problem
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(problem);
    Response::from_parts(parts, Body::from(body))
}

/// Unknown routes: a problem answer for API clients, a Chinese page for people.
async fn not_found(uri: Uri) -> Response {
    if is_api(&uri) {
        Problem::not_found(format!(
            "没有地址为 {} 的接口，请核对接口文档 /api/docs。",
            uri.path()
        ))
        .into_response()
    } else {
        pages::not_found_page().into_response()
    }
}

async fn method_not_allowed(uri: Uri, method: axum::http::Method) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "请求方法不受支持",
        format!(
            "地址 {} 不支持 {method} 请求，请核对接口文档 /api/docs。",
            uri.path()
        ),
    )
    .into_response()
}

fn is_api(uri: &Uri) -> bool {
    uri.path() == "/api" || uri.path().starts_with("/api/")
}

/// A panic is a bug: log it and answer an opaque 500 problem.
#[allow(clippy::needless_pass_by_value)] // the signature `CatchPanicLayer` calls
fn panic_to_problem(cause: Box<dyn Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)");
    tracing::error!(panic = message, "handler panicked");
    Problem::internal().into_response()
}
