//! Web hardening, applied to every request in one place:
//!
//! - [`security_headers`]: Content-Security-Policy (a looser one for the
//!   Swagger UI under `/api/docs`), framing, referrer, permissions and opener
//!   policies, `Cache-Control: no-store` unless a handler chose otherwise, and
//!   Strict-Transport-Security when the site is served over HTTPS.
//! - [`refuse_cross_site`]: state-changing requests from another site are
//!   refused (tower-http's `Sec-Fetch-Site` / `Origin` check), except those
//!   authenticated by an `Authorization: Bearer` header, which a browser never
//!   attaches on its own.
//! - [`rate_limit`]: per-client token buckets for the routes named in
//!   [`LIMITED_ROUTES`], the one table of rate-limited routes.
//! - [`limit_form_bodies`]: URL-encoded form posts are capped at
//!   [`FORM_BODY_LIMIT`]; every over-size answer is the `PAYLOAD_TOO_LARGE`
//!   problem (API) or a Chinese page.
//!
//! The switches are read once at start-up into [`HttpConfig`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};
use tower_http::csrf::{CsrfLayer, ProtectionError};

use super::problem::{Problem, payload_too_large};

/// The largest URL-encoded form body a page accepts. Multipart uploads get
/// their own, larger, per-route `DefaultBodyLimit`.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;

/// The policy of every page and answer except the Swagger UI: only our own
/// scripts, styles and images; no plugins, no framing, forms post only to us.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy of the Swagger UI under `/api/docs` (utoipa-swagger-ui 10,
/// Swagger UI 5). Its `index.html` and `swagger-initializer.js` load only the
/// vendored files, so scripts stay `'self'`; but the bundle inserts an inline
/// `<style>` element (Chromium reports `style-src-elem inline` from
/// `swagger-ui-bundle.js`), so inline styles are allowed there, and only
/// there. Its icons are `data:` SVGs. `tests/hardening.rs` renders the docs
/// in Chromium and fails on any violation.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=()";

/// One year; no `includeSubDomains`, so other sites of the bureau under the
/// same domain are not forced onto HTTPS by us.
const HSTS: &str = "max-age=31536000";

static PERMISSIONS_POLICY_HEADER: HeaderName = HeaderName::from_static("permissions-policy");
static CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// What the web layer needs to know about its deployment, read once at
/// start-up and passed to [`super::router`].
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The site is reached over HTTPS (directly or through a TLS-terminating
    /// proxy): session cookies get the `Secure` attribute and every answer
    /// carries `Strict-Transport-Security`. From `--secure-cookies` /
    /// `SSCARD_SECURE_COOKIES`; off for plain-HTTP intranet use.
    pub secure_cookies: bool,
    /// Per-client request budgets of the routes in [`LIMITED_ROUTES`].
    pub rate_limits: RateLimits,
    /// The client address ranges that may read `/metrics` without a token.
    /// From `--metrics-allow` / `SSCARD_METRICS_ALLOW`; this host only
    /// (`127.0.0.1/32,::1/128`) by default.
    pub metrics_allow: Vec<super::metrics::AddressRange>,
    /// The bearer token that opens `/metrics` from any address. From
    /// `--metrics-token` / `SSCARD_METRICS_TOKEN`; none by default.
    pub metrics_token: Option<super::metrics::MetricsToken>,
    /// The reverse proxies whose `X-Forwarded-For` names the client
    /// (`super::client_address`). From `--trusted-proxies` /
    /// `SSCARD_TRUSTED_PROXIES`; none by default (the peer is the client).
    pub trusted_proxies: Vec<super::metrics::AddressRange>,
    /// Where the rate-limit buckets live; [`super::limiter::BucketStore::Auto`]
    /// (memory for SQLite, the database for PostgreSQL) unless a test or a
    /// measurement chooses.
    pub rate_limit_store: super::limiter::BucketStore,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            rate_limits: RateLimits::default(),
            metrics_allow: super::metrics::AddressRange::loopback(),
            metrics_token: None,
            trusted_proxies: Vec::new(),
            rate_limit_store: super::limiter::BucketStore::Auto,
        }
    }
}

// ---------------------------------------------------------------------------
// Security headers

/// Adds the security headers to every answer (a handler's own value wins).
pub async fn security_headers(
    State(config): State<Arc<HttpConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let docs = is_docs(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if docs { DOCS_CSP } else { PAGE_CSP };
    set_if_absent(headers, &header::CONTENT_SECURITY_POLICY, csp);
    set_if_absent(headers, &header::X_FRAME_OPTIONS, "DENY");
    set_if_absent(headers, &PERMISSIONS_POLICY_HEADER, PERMISSIONS_POLICY);
    set_if_absent(headers, &CROSS_ORIGIN_OPENER_POLICY, "same-origin");
    // API answers and pages may show a signed-in person's data; only what
    // says otherwise (the stylesheet) may be kept by a browser or a proxy.
    set_if_absent(headers, &header::CACHE_CONTROL, "no-store");
    if config.secure_cookies {
        set_if_absent(headers, &header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

fn set_if_absent(headers: &mut HeaderMap, name: &HeaderName, value: &'static str) {
    if !headers.contains_key(name) {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
}

fn is_docs(path: &str) -> bool {
    path == "/api/docs" || path.starts_with("/api/docs/")
}

// ---------------------------------------------------------------------------
// Cross-site request refusal (CSRF)

/// tower-http's check (Go's `CrossOriginProtection`): a POST, PUT, PATCH or
/// DELETE passes when `Sec-Fetch-Site` is `same-origin` or `none`; without
/// that header, when `Origin` is absent or names the requested host.
/// `cross-site` and `same-site` are refused.
static CSRF: LazyLock<CsrfLayer> = LazyLock::new(CsrfLayer::new);

/// Refuses state-changing requests sent by another site. Every request is
/// checked, signed in by cookie or not (a forged sign-in is an attack too),
/// except one carrying `Authorization: Bearer`: browsers never add that
/// header by themselves, so it cannot be forged across sites.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || has_bearer_token(request.headers())
    {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = match CSRF.layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let Some(error) = response.extensions().get::<ProtectionError>() else {
        return response;
    };
    tracing::warn!(%method, path, reason = %error, "refused a cross-site request");
    refusal(
        is_api_path(&path),
        Problem::new(
            StatusCode::FORBIDDEN,
            "CSRF_REJECTED",
            "已拒绝来自其他网站的请求",
            "此请求由其他网站发起，为保护您的账户已被拒绝。请直接在本系统的页面上重新操作；程序调用接口请使用 Authorization: Bearer 令牌。",
        ),
    )
}

/// `Authorization: Bearer <token>` with a non-empty token, as the
/// authentication middleware reads it (it then ignores any cookie).
fn has_bearer_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        })
}

// ---------------------------------------------------------------------------
// Rate limits

/// A per-client budget. All routes naming the same budget in
/// [`LIMITED_ROUTES`] draw on one bucket per client address, so the sign-in
/// page and the sign-in API cannot be alternated to double the attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Staff, bank and employer sign-in (API and page).
    SignIn,
    /// Requesting and redeeming a citizen's one-time code.
    CitizenCode,
    /// The public progress query.
    ProgressQuery,
    /// The public identifier pre-check.
    IdentifierCheck,
    /// 业务反馈单真伪验证: by code or by the PDF (API and pages).
    SlipVerification,
    /// 互联网咨询: asking a question without signing in (API and page).
    Consultation,
}

impl Budget {
    /// What the person was doing, for the Chinese answer.
    fn label_zh(self) -> &'static str {
        match self {
            Self::SignIn => "登录尝试",
            Self::CitizenCode => "获取或使用验证码",
            Self::ProgressQuery => "进度查询",
            Self::IdentifierCheck => "号码预审",
            Self::SlipVerification => "反馈单验证",
            Self::Consultation => "提交咨询",
        }
    }
}

/// THE table of rate-limited routes: method, route template (as registered
/// with axum), budget. A route built later only has to be registered under
/// its template here to be limited.
pub const LIMITED_ROUTES: &[(&str, &str, Budget)] = &[
    ("POST", "/api/v1/session", Budget::SignIn),
    ("POST", "/signin", Budget::SignIn),
    ("POST", "/api/v1/citizen/otp", Budget::CitizenCode),
    ("POST", "/api/v1/citizen/session", Budget::CitizenCode),
    ("POST", "/my/signin/code", Budget::CitizenCode),
    ("POST", "/my/signin", Budget::CitizenCode),
    ("POST", "/api/v1/progress", Budget::ProgressQuery),
    ("POST", "/progress", Budget::ProgressQuery),
    // 互联网咨询: reading an answer by number and access code is a public
    // look-up like the progress query, and shares its budget.
    (
        "POST",
        "/api/v1/consultations/lookup",
        Budget::ProgressQuery,
    ),
    ("POST", "/progress/consultation", Budget::ProgressQuery),
    // Asking without signing in: a few questions, then one a minute.
    ("POST", "/api/v1/consultations", Budget::Consultation),
    ("POST", "/consult", Budget::Consultation),
    ("POST", "/api/v1/identifiers/check", Budget::IdentifierCheck),
    // 业务反馈单真伪验证: codes are random (80 bits), but every answer is a
    // look-up, so guessing is kept slow.
    (
        "GET",
        "/api/v1/slips/{verification_code}",
        Budget::SlipVerification,
    ),
    ("POST", "/api/v1/slips/verify", Budget::SlipVerification),
    (
        "GET",
        "/verify/{verification_code}",
        Budget::SlipVerification,
    ),
    ("POST", "/verify", Budget::SlipVerification),
    ("POST", "/verify/upload", Budget::SlipVerification),
];

/// The budget a route draws on, if it is rate-limited.
pub fn budget_of(method: &Method, route: &str) -> Option<Budget> {
    LIMITED_ROUTES
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, budget)| *budget)
}

/// A token bucket: up to `burst` requests at once, then one more every
/// `refill_every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub burst: u32,
    pub refill_every: Duration,
}

impl Limit {
    pub const fn new(burst: u32, refill_every: Duration) -> Self {
        Self {
            burst,
            refill_every,
        }
    }
}

/// The budgets' sizes. `Default` holds the production values; tests and the
/// benchmark raise them with [`RateLimits::relaxed`] or their own values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub sign_in: Limit,
    pub citizen_code: Limit,
    pub progress_query: Limit,
    pub identifier_check: Limit,
    pub slip_verification: Limit,
    pub consultation: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in: Limit::new(10, Duration::from_secs(6)),
            citizen_code: Limit::new(5, Duration::from_secs(12)),
            progress_query: Limit::new(30, Duration::from_secs(2)),
            identifier_check: Limit::new(60, Duration::from_secs(1)),
            slip_verification: Limit::new(30, Duration::from_secs(2)),
            consultation: Limit::new(5, Duration::from_secs(60)),
        }
    }
}

impl RateLimits {
    /// Budgets no test or benchmark run from one address exhausts.
    pub fn relaxed() -> Self {
        let limit = Limit::new(1_000_000, Duration::from_millis(1));
        Self {
            sign_in: limit,
            citizen_code: limit,
            progress_query: limit,
            identifier_check: limit,
            slip_verification: limit,
            consultation: limit,
        }
    }

    /// Every budget multiplied by `factor` (`server.rate_limit_scale`): the
    /// burst times the factor (at least 1), the refill interval divided by
    /// it (at least 1 µs). `scaled(1.0)` is `self`.
    #[must_use]
    pub fn scaled(self, factor: f64) -> Self {
        let scale = |limit: Limit| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let burst = (f64::from(limit.burst) * factor)
                .round()
                .clamp(1.0, f64::from(u32::MAX)) as u32;
            let refill = Duration::from_secs_f64(limit.refill_every.as_secs_f64() / factor)
                .max(Duration::from_micros(1));
            Limit::new(burst, refill)
        };
        if (factor - 1.0).abs() < f64::EPSILON {
            return self;
        }
        Self {
            sign_in: scale(self.sign_in),
            citizen_code: scale(self.citizen_code),
            progress_query: scale(self.progress_query),
            identifier_check: scale(self.identifier_check),
            slip_verification: scale(self.slip_verification),
            consultation: scale(self.consultation),
        }
    }

    pub fn of(&self, budget: Budget) -> Limit {
        match budget {
            Budget::SignIn => self.sign_in,
            Budget::CitizenCode => self.citizen_code,
            Budget::ProgressQuery => self.progress_query,
            Budget::IdentifierCheck => self.identifier_check,
            Budget::SlipVerification => self.slip_verification,
            Budget::Consultation => self.consultation,
        }
    }
}

/// Buckets kept in memory, per budget and client (an IPv4 address, or the
/// /64 network of an IPv6 one, as one host usually holds a whole /64).
///
/// Each bucket is stored as the instant it is full again (GCRA): a request
/// passes when that instant is at most `(burst - 1) × refill_every` ahead,
/// and pushes it on by `refill_every`. Buckets that are full again are
/// dropped every minute, or sooner when the table has doubled, so memory
/// stays proportional to the clients of the last few minutes.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    state: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    full_at: HashMap<(Budget, IpAddr), Instant>,
    swept_at: Option<Instant>,
    size_after_sweep: usize,
}

const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            state: Mutex::default(),
        }
    }

    /// Takes one request from the client's bucket; `Err` holds how long the
    /// client has to wait for the next one.
    pub fn check(&self, budget: Budget, client: IpAddr) -> Result<(), Duration> {
        self.check_at(budget, client, Instant::now())
    }

    fn check_at(&self, budget: Budget, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = self.limits.of(budget);
        let tolerance = limit.refill_every * limit.burst.saturating_sub(1);
        let mut buckets = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.sweep(now);
        let key = (budget, client_key(client));
        let full_at = buckets
            .full_at
            .get(&key)
            .copied()
            .map_or(now, |at| at.max(now));
        let ahead = full_at - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        buckets.full_at.insert(key, full_at + limit.refill_every);
        Ok(())
    }
}

impl Buckets {
    fn sweep(&mut self, now: Instant) {
        let due = self
            .swept_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY);
        let grown = self.full_at.len() > 2 * self.size_after_sweep + 1024;
        if due || grown {
            self.full_at.retain(|_, full_at| *full_at > now);
            self.swept_at = Some(now);
            self.size_after_sweep = self.full_at.len();
        }
    }
}

/// The key of a client's bucket (shared with [`super::limiter`]).
pub(crate) fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Applies [`LIMITED_ROUTES`] (a route layer: it needs the matched route).
/// Requests over budget get 429 with `Retry-After`: the `RATE_LIMITED`
/// problem under `/api`, a Chinese page elsewhere.
pub async fn rate_limit(
    State(limiter): State<Arc<super::limiter::Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let budget = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| budget_of(request.method(), route.as_str()));
    let Some(budget) = budget else {
        return next.run(request).await;
    };
    // The client behind trusted proxies (`super::client_address`); without
    // a peer address (only in-process callers) all share one bucket.
    let client = super::client_address::client_address_or_unspecified(request.extensions());
    let Err(wait) = limiter.check(budget, client).await else {
        return next.run(request).await;
    };
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    tracing::warn!(?budget, %client, retry_after = seconds, "rate limit reached");
    refusal(
        is_api_path(request.uri().path()),
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "操作过于频繁",
            format!("{}过于频繁，请 {seconds} 秒后再试。", budget.label_zh()),
        )
        .with_retry_after(seconds),
    )
}

// ---------------------------------------------------------------------------
// The NUL character

/// Refuses a request whose path or query string holds an encoded NUL
/// (`%00`): no identifier or query value of this system holds it, and
/// PostgreSQL cannot even compare a text holding it, so it is refused alike
/// on both databases before any handler reads it.
pub async fn refuse_nul_in_uri(request: Request, next: Next) -> Response {
    let holds_nul = |text: &str| text.as_bytes().windows(3).any(|w| w == b"%00");
    let uri = request.uri();
    if holds_nul(uri.path()) || uri.query().is_some_and(holds_nul) {
        let json = super::auth::is_api_route(uri.path()) || uri.path() == "/metrics";
        return refusal(
            json,
            Problem::new(
                StatusCode::BAD_REQUEST,
                "NUL_CHARACTER",
                "地址有误",
                "请求地址或查询参数中含有空字符（%00），请核对后重试。",
            ),
        );
    }
    next.run(request).await
}

// ---------------------------------------------------------------------------
// Request size

/// Caps URL-encoded form bodies at [`FORM_BODY_LIMIT`] (a declared length at
/// once, a streamed body when the handler reads it), and turns any bare 413
/// an extractor answers into the `PAYLOAD_TOO_LARGE` problem or page.
pub async fn limit_form_bodies(request: Request, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let response = if is_url_encoded_form(request.headers()) {
        if declared_length(request.headers()).is_some_and(|length| length > FORM_BODY_LIMIT) {
            return refusal(api, payload_too_large());
        }
        match DefaultBodyLimit::max(FORM_BODY_LIMIT)
            .layer(next)
            .oneshot(request)
            .await
        {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        next.run(request).await
    };
    let bare_413 = response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<Problem>().is_none()
        && !is_html(response.headers());
    if bare_413 {
        refusal(api, payload_too_large())
    } else {
        response
    }
}

fn is_url_encoded_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

// ---------------------------------------------------------------------------
// Answers

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// A refusal of this layer: the problem itself for API clients, the same
/// title and detail as a Chinese page for people.
fn refusal(api: bool, problem: Problem) -> Response {
    if api {
        return problem.into_response();
    }
    let status = problem.status_code();
    let mut response = (
        status,
        RefusedPage {
            title: &problem.title,
            detail: &problem.detail,
        },
    )
        .into_response();
    if let Some(seconds) = problem.retry_after_seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[derive(Template, WebTemplate)]
#[template(path = "refused.html")]
struct RefusedPage<'a> {
    title: &'a str,
    detail: &'a str,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use std::net::Ipv4Addr;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;

    use super::*;

    #[test]
    fn scaling_multiplies_the_burst_and_divides_the_refill() {
        let production = RateLimits::default();
        assert_eq!(production.scaled(1.0), production);
        let raised = production.scaled(1000.0);
        assert_eq!(raised.sign_in.burst, 10_000);
        assert_eq!(raised.sign_in.refill_every, Duration::from_millis(6));
        assert_eq!(raised.progress_query.burst, 30_000);
        assert_eq!(raised.progress_query.refill_every, Duration::from_millis(2));
        let lowered = production.scaled(0.01);
        assert_eq!(lowered.sign_in.burst, 1, "never below one request");
        assert_eq!(lowered.sign_in.refill_every, Duration::from_secs(600));
    }

    fn limiter(burst: u32, secs: u64) -> RateLimiter {
        let limit = Limit::new(burst, Duration::from_secs(secs));
        RateLimiter::new(RateLimits {
            sign_in: limit,
            ..RateLimits::default()
        })
    }

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

    #[test]
    fn a_bucket_allows_its_burst_then_refills_one_request_per_period() {
        let limiter = limiter(3, 6);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(Budget::SignIn, HOST, start), Ok(()));
        }
        assert_eq!(
            limiter.check_at(Budget::SignIn, HOST, start),
            Err(Duration::from_secs(6))
        );
        let later = start + Duration::from_secs(4);
        assert_eq!(
            limiter.check_at(Budget::SignIn, HOST, later),
            Err(Duration::from_secs(2))
        );
        let refilled = start + Duration::from_secs(6);
        assert_eq!(limiter.check_at(Budget::SignIn, HOST, refilled), Ok(()));
        assert!(limiter.check_at(Budget::SignIn, HOST, refilled).is_err());
        // A long pause fills the bucket again, and never beyond the burst.
        let rested = start + Duration::from_secs(600);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(Budget::SignIn, HOST, rested), Ok(()));
        }
        assert!(limiter.check_at(Budget::SignIn, HOST, rested).is_err());
    }

    #[test]
    fn budgets_and_clients_have_their_own_buckets() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        assert!(limiter.check_at(Budget::SignIn, HOST, now).is_ok());
        assert!(limiter.check_at(Budget::SignIn, HOST, now).is_err());
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8));
        assert!(limiter.check_at(Budget::SignIn, other, now).is_ok());
        assert!(limiter.check_at(Budget::IdentifierCheck, HOST, now).is_ok());
    }

    #[test]
    fn an_ipv6_network_shares_one_bucket_and_mapped_ipv4_is_ipv4() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(limiter.check_at(Budget::SignIn, a, now).is_ok());
        assert!(limiter.check_at(Budget::SignIn, b, now).is_err());
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert!(limiter.check_at(Budget::SignIn, HOST, now).is_ok());
        assert!(limiter.check_at(Budget::SignIn, mapped, now).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limiter = limiter(2, 1);
        let start = Instant::now();
        for i in 0..50u8 {
            let client = IpAddr::V4(Ipv4Addr::new(10, 1, 0, i));
            limiter.check_at(Budget::SignIn, client, start).unwrap();
        }
        let later = start + SWEEP_EVERY;
        limiter.check_at(Budget::SignIn, HOST, later).unwrap();
        let buckets = limiter.state.lock().unwrap();
        assert_eq!(buckets.full_at.len(), 1, "only the fresh bucket is kept");
    }

    #[test]
    fn the_table_names_routes_by_method_and_template() {
        assert_eq!(
            budget_of(&Method::POST, "/api/v1/session"),
            Some(Budget::SignIn)
        );
        assert_eq!(budget_of(&Method::POST, "/signin"), Some(Budget::SignIn));
        assert_eq!(
            budget_of(&Method::POST, "/api/v1/citizen/otp"),
            Some(Budget::CitizenCode)
        );
        assert_eq!(budget_of(&Method::GET, "/api/v1/session"), None);
        assert_eq!(budget_of(&Method::DELETE, "/api/v1/session"), None);
        assert_eq!(budget_of(&Method::POST, "/api/v1/accounts"), None);
    }

    #[test]
    fn only_a_non_empty_bearer_token_exempts_from_the_cross_site_check() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            has_bearer_token(&headers)
        };
        assert!(with("Bearer abc"));
        assert!(with("bearer abc"));
        assert!(!with("Bearer "));
        assert!(!with("Basic dXNlcjpwYXNz"));
        assert!(!has_bearer_token(&HeaderMap::new()));
    }

    async fn post_form(body: Vec<u8>, path: &str, declare_length: bool) -> Response {
        async fn echo(axum::Form(form): axum::Form<HashMap<String, String>>) -> String {
            form.len().to_string()
        }
        let app = Router::new()
            .route("/form", post(echo))
            .route("/api/form", post(echo))
            .layer(axum::middleware::from_fn(limit_form_bodies));
        let mut request = axum::http::Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if declare_length {
            request = request.header(header::CONTENT_LENGTH, body.len());
        }
        app.oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn form_posts_over_16_kib_are_refused_with_a_page_or_a_problem() {
        let small = b"name=%E5%BC%A0%E4%B8%89".to_vec();
        let ok = post_form(small, "/form", true).await;
        assert_eq!(ok.status(), StatusCode::OK);

        let big = format!("note={}", "x".repeat(FORM_BODY_LIMIT)).into_bytes();
        for declare_length in [true, false] {
            let page = post_form(big.clone(), "/form", declare_length).await;
            assert_eq!(page.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert!(is_html(page.headers()), "{:?}", page.headers());
            let body = axum::body::to_bytes(page.into_body(), usize::MAX)
                .await
                .unwrap();
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(html.contains("请求内容过大"), "{html}");

            let api = post_form(big.clone(), "/api/form", declare_length).await;
            assert_eq!(api.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(
                api.extensions().get::<Problem>().unwrap().code,
                "PAYLOAD_TOO_LARGE"
            );
        }
    }
}
