//! `GET /metrics` in the Prometheus text format, and the request metrics.
//!
//! The `metrics` facade records into one process-wide Prometheus recorder,
//! installed once ([`install`]) before the first request is counted. Request
//! series are labelled by route *template* (`/api/v1/cards/{card_number}`),
//! never by the raw path, so no identifier reaches a label. The database
//! pool and the domain gauges are computed per scrape from this server's own
//! store and appended to the recorder's text, so they are never stale.
//!
//! Access: from the addresses in [`HttpConfig::metrics_allow`] (the peer
//! address of the connection, not a forwarded header), or with
//! `Authorization: Bearer` and [`HttpConfig::metrics_token`]; anyone else
//! gets the `METRICS_FORBIDDEN` problem.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use super::problem::Problem;

pub const HTTP_REQUESTS: &str = "sscard_http_requests_total";
pub const HTTP_DURATION: &str = "sscard_http_request_duration_seconds";
pub const SIGN_INS: &str = "sscard_sign_ins_total";
pub const OTP_REQUESTS: &str = "sscard_otp_requests_total";
pub const BUILD_INFO: &str = "sscard_build_info";
pub const BANK_REQUESTS: &str = "sscard_bank_requests_total";

/// Upper bounds of the request latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same
/// handle). `None` when another recorder was installed first: then
/// `/metrics` answers 503 rather than empty figures.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    let upkeep = handle.clone();
                    // Drains histogram samples so memory stays bounded
                    // between scrapes; lives as long as the process.
                    let _ = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        });
                    Some(handle)
                }
                Err(error) => {
                    tracing::error!(%error, "cannot install the metrics recorder; /metrics is unavailable");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by method and route template."
    );
    metrics::describe_counter!(
        SIGN_INS,
        "Staff, bank and employer sign-ins, by outcome (succeeded, refused)."
    );
    metrics::describe_counter!(
        OTP_REQUESTS,
        "Citizen one-time code requests, by outcome (accepted, refused)."
    );
    metrics::describe_gauge!(BUILD_INFO, "The running sscard version (always 1).");
    metrics::describe_counter!(
        crate::service::batches::BATCH_ROWS_METRIC,
        "Rows of employer batches (单位批量启用) decided by this process, by outcome (activated, already_active, failed)."
    );
    metrics::describe_counter!(
        super::limiter::RATE_LIMITED,
        "Requests refused by a rate limit, by budget (sign_in, citizen_code, progress_query, …: http::limiter::budget_code)."
    );
    metrics::describe_counter!(
        super::limiter::RATE_LIMIT_STORE_ERRORS,
        "Rate-limited requests let through unchecked because the shared rate-limit buckets (PostgreSQL) could not be reached, by budget: the limiter fails open."
    );
    metrics::describe_counter!(
        BANK_REQUESTS,
        "Signed requests of cooperating banks' systems, by result (accepted, or the refusal's code such as BANK_SIGNATURE_INVALID, BANK_REQUEST_REPLAYED)."
    );
}

/// Counts a staff sign-in attempt by outcome.
pub fn sign_in(succeeded: bool) {
    let outcome = if succeeded { "succeeded" } else { "refused" };
    metrics::counter!(SIGN_INS, "outcome" => outcome).increment(1);
}

/// Counts a bank system's signed request by result (`accepted` or the
/// refusal's stable code).
pub fn bank_request(result: &str) {
    metrics::counter!(BANK_REQUESTS, "result" => result.to_owned()).increment(1);
}

/// Counts a citizen's one-time code request by outcome.
pub fn otp_request(accepted: bool) {
    let outcome = if accepted { "accepted" } else { "refused" };
    metrics::counter!(OTP_REQUESTS, "outcome" => outcome).increment(1);
}

/// Counts and times every routed request (a route layer: it needs the
/// matched route template).
pub async fn record_request(request: Request, next: Next) -> Response {
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_DURATION, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus metrics of this node: requests by route template and status,
/// latency histograms, database pool usage, persons, cards by state,
/// accounts, audit entries, sign-ins and one-time code requests.
///
/// Allowed from the configured address ranges (`--metrics-allow`, default
/// loopback) or with `Authorization: Bearer <--metrics-token>`.
#[utoipa::path(get, path = "/metrics", tag = "metrics", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
    (status = 403, description = "`METRICS_FORBIDDEN`: neither an allowed address nor the metrics token", body = Problem, content_type = "application/problem+json"),
    (status = 503, body = Problem, content_type = "application/problem+json"),
), security((), ("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, Problem> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if !permitted(&state, peer, request.headers()) {
        tracing::warn!(client = ?peer, "refused a metrics scrape");
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "METRICS_FORBIDDEN",
            "无权读取运行指标",
            "运行指标只对配置的监控地址开放（--metrics-allow），或须携带监控令牌（Authorization: Bearer，--metrics-token）。请联系系统管理员。",
        ));
    }
    let Some(handle) = install() else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "METRICS_UNAVAILABLE",
            "运行指标暂不可用",
            "本进程未能启用运行指标，请查看服务日志。",
        ));
    };
    let counts = state.services.domain_counts().await?;
    let mut text = handle.render();
    pool_gauges(&mut text, &state);
    gauge(
        &mut text,
        "sscard_persons",
        "Registered cardholders.",
        &[("", counts.persons)],
    );
    let social = labelled("state", &counts.cards_by_social_state);
    gauge(
        &mut text,
        "sscard_cards_by_social_state",
        "Cards by social security application state.",
        &social
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    let financial = labelled("state", &counts.cards_by_financial_state);
    gauge(
        &mut text,
        "sscard_cards_by_financial_state",
        "Cards by financial (bank account) application state.",
        &financial
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    let cases = labelled("state", &counts.cases_by_state);
    gauge(
        &mut text,
        "sscard_cases_by_state",
        "Activation cases (办件) by state: submitted (受理), awaiting_supplement (补正), awaiting_processing (经办), awaiting_feedback (反馈), completed, refused.",
        &cases
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut text,
        "sscard_cases_overdue",
        "Running cases whose current step is past its due date (working-day calendar, Asia/Shanghai).",
        &[("", counts.overdue_cases)],
    );
    let steps: Vec<(String, i64, i64)> = counts
        .cases_by_step
        .iter()
        .map(|(step, running, overdue)| (format!("step=\"{step}\""), *running, *overdue))
        .collect();
    gauge(
        &mut text,
        "sscard_cases_by_step",
        "Running cases by the step they are at: acceptance (受理), supplement (补正, the applicant's turn, no clock), processing (经办), feedback (反馈).",
        &steps
            .iter()
            .map(|(l, n, _)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut text,
        "sscard_cases_overdue_by_step",
        "Running cases past the due date of the step they are at, by step.",
        &steps
            .iter()
            .map(|(l, _, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut text,
        "sscard_accounts",
        "Staff, bank and employer accounts.",
        &[("", counts.accounts)],
    );
    gauge(
        &mut text,
        "sscard_audit_entries",
        "Entries of the audit trail.",
        &[("", counts.audit_entries)],
    );
    let exchange: Vec<(String, i64)> = state
        .services
        .bank_exchange_counts()
        .await?
        .into_iter()
        .map(|(bank, status, n)| {
            (
                format!("bank=\"{}\",status=\"{}\"", escape(&bank), escape(&status)),
                n,
            )
        })
        .collect();
    gauge(
        &mut text,
        "sscard_bank_exchange_cards",
        "Cards in the batch exchange with cooperating banks, by bank and status: exported (sent, no answer yet), accepted (account registered), rejected (to follow up), requeued (followed up, in the next export).",
        &exchange
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn permitted(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let config = &state.config;
    if peer.is_some_and(|peer| {
        config
            .metrics_allow
            .iter()
            .any(|range| range.contains(peer))
    }) {
        return true;
    }
    let Some(expected) = &config.metrics_token else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer")
                && sscard_crypto::constant_time_eq(token.trim().as_bytes(), expected.0.as_bytes())
        })
}

/// The connection pools of this node, labelled `pool`: `main` (the
/// store's: reads, and every transaction on PostgreSQL), `writer` (SQLite:
/// the one connection write transactions queue for) and `rate_limits`
/// (PostgreSQL: the shared rate-limit buckets' own pool).
fn pool_gauges(text: &mut String, state: &AppState) {
    let store = state.services.store();
    let mut pools = vec![("main", store.pool())];
    if let Some(writer) = store.writer_pool() {
        pools.push(("writer", writer));
    }
    if let Some(buckets) = state.limiter.own_pool() {
        pools.push(("rate_limits", buckets));
    }
    let mut connections = Vec::new();
    let mut max = Vec::new();
    for (name, pool) in pools {
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        for (state, value) in [
            ("open", size),
            ("idle", idle),
            ("in_use", size.saturating_sub(idle)),
        ] {
            connections.push((
                format!("pool=\"{name}\",state=\"{state}\""),
                i64::from(value),
            ));
        }
        max.push((
            format!("pool=\"{name}\""),
            i64::from(pool.options().get_max_connections()),
        ));
    }
    gauge(
        text,
        "sscard_db_pool_connections",
        "Database pool connections, by pool and state (open = idle + in use), sampled at scrape time.",
        &connections
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    gauge(
        text,
        "sscard_db_pool_max_connections",
        "The most connections each of this node's database pools opens.",
        &max.iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
}

fn labelled(name: &str, rows: &[(String, i64)]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|(value, count)| (format!("{name}=\"{}\"", escape(value)), *count))
        .collect()
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends one gauge family; `labels` holds `name="value"` lists.
fn gauge(text: &mut String, name: &str, help: &str, series: &[(&str, i64)]) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} gauge");
    for (labels, value) in series {
        if labels.is_empty() {
            let _ = writeln!(text, "{name} {value}");
        } else {
            let _ = writeln!(text, "{name}{{{labels}}} {value}");
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration values

/// An address range in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare
/// address is a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Whether `address` lies in the range (IPv4-mapped IPv6 addresses count
    /// as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }

    /// The default scrapers: this host only.
    pub fn loopback() -> Vec<Self> {
        vec![
            Self {
                network: IpAddr::from([127, 0, 0, 1]),
                prefix: 32,
            },
            Self {
                network: IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
                prefix: 128,
            },
        ]
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The bearer token a scraper may present instead of an allowed address.
/// A secret: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    pub fn new(token: &str) -> Result<Self, String> {
        let token = token.trim();
        if token.len() < 16 {
            return Err("the metrics token must be at least 16 characters".to_owned());
        }
        Ok(Self(token.to_owned()))
    }
}

impl FromStr for MetricsToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl fmt::Display for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_their_addresses_only() {
        let range: AddressRange = "10.0.0.0/8".parse().unwrap();
        assert!(range.contains("10.200.3.4".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        assert!(!range.contains("::1".parse().unwrap()));
        let host: AddressRange = "192.168.1.5".parse().unwrap();
        assert_eq!(host.to_string(), "192.168.1.5/32");
        assert!(host.contains("192.168.1.5".parse().unwrap()));
        assert!(!host.contains("192.168.1.6".parse().unwrap()));
        let all: AddressRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: AddressRange = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let loopback = AddressRange::loopback();
        assert!(loopback.iter().any(|r| r.contains("::1".parse().unwrap())));
        assert!(
            loopback
                .iter()
                .any(|r| r.contains("127.0.0.1".parse().unwrap()))
        );
        assert!(
            !loopback
                .iter()
                .any(|r| r.contains("127.0.0.2".parse().unwrap()))
        );
    }

    #[test]
    fn bad_ranges_are_refused_with_the_reason() {
        assert!(
            "10.0.0.0/33"
                .parse::<AddressRange>()
                .unwrap_err()
                .contains("0 to 32")
        );
        assert!(
            "::/129"
                .parse::<AddressRange>()
                .unwrap_err()
                .contains("0 to 128")
        );
        assert!("example.org".parse::<AddressRange>().is_err());
    }

    #[test]
    fn the_token_is_never_shown() {
        let token = MetricsToken::new("s3cret-s3cret-s3cret").unwrap();
        assert!(!format!("{token:?} {token}").contains("s3cret"));
        assert!(MetricsToken::new("short").is_err());
    }
}
