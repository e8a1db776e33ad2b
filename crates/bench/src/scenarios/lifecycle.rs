//! `lifecycle`: complete activation cases through the public API, as a
//! window does a walk-in's 即办件: a clerk holding 受理岗, 经办岗 and 反馈岗
//! (signed in for real: one-time password, then the required change)
//! enters the form (`POST /api/v1/applications` with an `Idempotency-Key`),
//! accepts it, approves it — which activates the card (已领卡未启用 → 正常)
//! — and records the delivery. Audit and encryption are on, as always.
//! Every answer's status and state are checked; afterwards a sample of cards
//! must read 正常 and `sscard audit verify` must find every chain intact.
//! The storage baseline runs next in the same invocation, on its own fresh
//! database with the same data, and the ratio is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::Options;
use crate::baseline::{self, BaselineWork};
use crate::db::BenchDb;
use crate::http::Api;
use crate::load::{self, OpResult, Workload};
use crate::report::{Report, mb, round1, round3};
use crate::seed::{self, Holder};
use crate::server::{ServerProcess, cpu_time_of};

/// Prepared cases when `--cases` is not given.
pub const DEFAULT_CASES: usize = 20_000;

/// One complete window case per operation, each on its own prepared
/// cardholder; exhausted when every cardholder has had one.
pub struct LifecycleWork {
    api: Api,
    tokens: Vec<String>,
    holders: Vec<Holder>,
    next: AtomicUsize,
    done: std::sync::Mutex<Vec<usize>>,
}

impl LifecycleWork {
    /// Cases for `holders` by the clerks signed in with `tokens` (shared
    /// round-robin by the workers).
    ///
    /// # Panics
    ///
    /// When `tokens` is empty.
    pub fn new(api: Api, tokens: Vec<String>, holders: Vec<Holder>) -> Self {
        assert!(!tokens.is_empty(), "at least one signed-in clerk");
        Self {
            api,
            tokens,
            holders,
            next: AtomicUsize::new(0),
            done: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The holders whose case completed.
    pub fn completed(&self) -> Vec<usize> {
        self.done.lock().map(|d| d.clone()).unwrap_or_default()
    }

    async fn one_case(&self, token: &str, holder: &Holder) -> Result<Vec<Duration>, String> {
        let form = json!({
            "channel": "window",
            "applicant": {
                "name": holder.name,
                "id_number": holder.id_number,
                "mobile": holder.mobile,
            },
            "card_number": holder.card_number,
            "delivery": { "method": "window" },
            "materials": [
                { "code": "application_form", "status": "submitted" },
                { "code": "own_card", "status": "submitted" },
            ],
            "declaration": true,
        });
        let submitted = self
            .api
            .post(
                "/api/v1/applications",
                Some(token),
                &form,
                &[("Idempotency-Key", uuid::Uuid::new_v4().to_string())],
            )
            .await?
            .expect(StatusCode::CREATED, "submit")?;
        submitted.field_is("status", "submitted", "submit")?;
        let no = submitted.text("application_no", "submit")?;
        let mut latencies = vec![submitted.latency];
        let steps = [
            ("accept", json!({}), "awaiting_processing", None),
            ("approve", json!({}), "awaiting_feedback", Some("approved")),
            (
                "deliver",
                json!({ "delivery": { "collected_by": "holder" } }),
                "completed",
                Some("approved"),
            ),
        ];
        for (action, body, status, outcome) in steps {
            let what = format!("{action} {no}");
            let answer = self
                .api
                .post(
                    &format!("/api/v1/applications/{no}/{action}"),
                    Some(token),
                    &body,
                    &[],
                )
                .await?
                .expect(StatusCode::OK, &what)?;
            answer.field_is("status", status, &what)?;
            if let Some(outcome) = outcome {
                answer.field_is("outcome", outcome, &what)?;
            }
            latencies.push(answer.latency);
        }
        Ok(latencies)
    }
}

impl Workload for LifecycleWork {
    async fn run_one(&self, worker: usize) -> OpResult {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(holder) = self.holders.get(i) else {
            return OpResult::Exhausted;
        };
        let token = &self.tokens[worker % self.tokens.len()];
        match self.one_case(token, holder).await {
            Ok(latencies) => {
                if let Ok(mut done) = self.done.lock() {
                    done.push(i);
                }
                OpResult::Done(latencies)
            }
            Err(error) => OpResult::Failed(error),
        }
    }
}

/// `lifecycle` (and, unless told not to, `baseline` beside it).
///
/// # Errors
///
/// Set-up failed.
pub async fn run(options: &Options, with_baseline: bool) -> anyhow::Result<Vec<Report>> {
    let count = options.cases.unwrap_or(DEFAULT_CASES);
    let db = BenchDb::fresh(
        options.postgres.as_deref(),
        options.work_dir.as_deref(),
        "lifecycle",
    )
    .await?;
    let result = lifecycle_on(&db, options, count).await;
    db.remove().await;
    let mut reports = vec![result?];
    if with_baseline {
        let mut base = baseline_report(options, count).await?;
        let ratio = if base.throughput_per_s > 0.0 {
            reports[0].throughput_per_s / base.throughput_per_s
        } else {
            0.0
        };
        reports[0].set("ratio_to_baseline", round3(ratio));
        base.set("lifecycle_cases_per_s", reports[0].throughput_per_s);
        reports.push(base);
    }
    Ok(reports)
}

/// `baseline` alone.
///
/// # Errors
///
/// Set-up failed.
pub async fn run_baseline_alone(options: &Options) -> anyhow::Result<Vec<Report>> {
    let count = options.cases.unwrap_or(DEFAULT_CASES);
    Ok(vec![baseline_report(options, count).await?])
}

async fn lifecycle_on(db: &BenchDb, options: &Options, count: usize) -> anyhow::Result<Report> {
    eprintln!(
        "lifecycle on {}: loading {count} cardholders …",
        db.backend_name()
    );
    let services = db.services().await?;
    let holders = seed::holders(&services, count).await?;
    let clerk_count = options.clerks.clamp(1, options.concurrency.max(1));
    let clerks = seed::clerks(&services, clerk_count).await?;
    services.store().close().await;
    drop(services);

    let server = ServerProcess::start(&options.binary, db).await?;
    let api = Api::new(&server.base_url, options.concurrency);
    let mut tokens = Vec::with_capacity(clerks.len());
    for (username, password) in &clerks {
        tokens.push(seed::sign_in(&api, username, password).await?);
    }
    let work = Arc::new(LifecycleWork::new(api.clone(), tokens.clone(), holders));
    eprintln!(
        "  {} clerks signed in; running {} workers for {} s (+{} s warm-up) …",
        tokens.len(),
        options.concurrency,
        options.duration.as_secs(),
        options.warmup.as_secs()
    );
    let server_cpu = server.cpu_time();
    let own_cpu = cpu_time_of("self");
    let mut measured = load::drive(
        Arc::clone(&work),
        options.concurrency,
        options.warmup,
        options.duration,
    )
    .await;
    let server_cpu = server.cpu_time().zip(server_cpu).map(|(b, a)| b - a);
    let own_cpu = cpu_time_of("self").zip(own_cpu).map(|(b, a)| b - a);

    // What a clerk would check: the activated cards read 正常.
    let done = work.completed();
    let step = (done.len() / 50).max(1);
    let mut checked = 0;
    for &i in done.iter().step_by(step) {
        let holder = &work.holders[i];
        let result = api
            .get(
                &format!("/api/v1/cards/{}", holder.card_number),
                Some(&tokens[0]),
            )
            .await
            .and_then(|a| a.expect(StatusCode::OK, "card"));
        let state = result
            .as_ref()
            .ok()
            .and_then(|a| {
                a.body
                    .pointer("/social_state/code")
                    .and_then(|c| c.as_str())
            })
            .map(str::to_owned);
        if state.as_deref() != Some("normal") {
            measured.errors += 1;
            measured.first_errors.push(format!(
                "card of case {i} is not 正常 after approval: {state:?} {:?}",
                result.err()
            ));
        }
        checked += 1;
    }
    let peak = server.peak_rss();
    server.stop().await?;

    // Every audit chain intact after the concurrent appends.
    let verify = tokio::process::Command::new(&options.binary)
        .args(["audit", "verify"])
        .env("SSCARD_DATABASE_URL", db.url.as_str())
        .env("SSCARD_KEY_FILE", db.key_file())
        .output()
        .await?;
    if !verify.status.success() {
        measured.errors += 1;
        measured.first_errors.push(format!(
            "sscard audit verify failed: {}",
            String::from_utf8_lossy(&verify.stdout)
        ));
    }

    let mut report = Report::from_measured(
        "lifecycle",
        db.backend_name(),
        "cases",
        options.concurrency,
        &measured,
    )
    .with(
        "requests_per_s",
        round1(load::u64_f64(measured.requests.len()) / measured.elapsed.as_secs_f64().max(1e-9)),
    )
    .with("clerks", tokens.len())
    .with("cards_checked", checked)
    .with("audit_chain_intact", verify.status.success())
    .with("work_ran_out", measured.exhausted);
    report.peak_rss_mb = peak.map(mb);
    add_cpu(&mut report, server_cpu, own_cpu, measured.operations.len());
    Ok(report)
}

/// Server and client CPU per operation, which show where the two cores went.
pub fn add_cpu(
    report: &mut Report,
    server_cpu: Option<Duration>,
    own_cpu: Option<Duration>,
    operations: u64,
) {
    let per_op =
        |cpu: Duration| round3(cpu.as_secs_f64() * 1000.0 / load::u64_f64(operations.max(1)));
    if let Some(cpu) = server_cpu {
        report.set("server_cpu_ms_per_op", per_op(cpu));
    }
    if let Some(cpu) = own_cpu {
        report.set("client_cpu_ms_per_op", per_op(cpu));
    }
}

async fn baseline_report(options: &Options, count: usize) -> anyhow::Result<Report> {
    let db = BenchDb::fresh(
        options.postgres.as_deref(),
        options.work_dir.as_deref(),
        "baseline",
    )
    .await?;
    let result = async {
        eprintln!(
            "baseline on {}: loading {count} cardholders …",
            db.backend_name()
        );
        let services = db.services().await?;
        let holders = seed::holders(&services, count).await?;
        let work = baseline::shared(BaselineWork::new(&services, holders).await?);
        eprintln!(
            "  running {} writers for {} s (+{} s warm-up) …",
            options.concurrency,
            options.duration.as_secs(),
            options.warmup.as_secs()
        );
        let own_cpu = cpu_time_of("self");
        let measured =
            load::drive(work, options.concurrency, options.warmup, options.duration).await;
        let own_cpu = cpu_time_of("self").zip(own_cpu).map(|(b, a)| b - a);
        services.store().close().await;
        let mut report = Report::from_measured(
            "baseline",
            db.backend_name(),
            "cases",
            options.concurrency,
            &measured,
        )
        .with(
            "transactions_per_s",
            round1(
                load::u64_f64(measured.requests.len()) / measured.elapsed.as_secs_f64().max(1e-9),
            ),
        )
        .with("work_ran_out", measured.exhausted);
        add_cpu(&mut report, None, own_cpu, measured.operations.len());
        anyhow::Ok(report)
    }
    .await;
    db.remove().await;
    result
}
