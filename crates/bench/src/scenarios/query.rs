//! `query`: the public progress query (`POST /api/v1/progress`) on a
//! database of `--cases` (1,000,000) historic cases. Nine queries in ten
//! name a random case correctly and must answer `200` with that case's
//! number and state; one in ten gives a wrong name and must answer `404
//! PROGRESS_NOT_FOUND`. The queries come from 16 million client addresses
//! named in `X-Forwarded-For` (the tool plays the bureau's reverse proxy,
//! `server.trusted_proxies`), and the rate limits are raised for the run
//! (`server.rate_limit_scale`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::json;
use sscard::demo::Generator;

use super::Options;
use super::lifecycle::add_cpu;
use crate::db::BenchDb;
use crate::http::Api;
use crate::load::{self, OpResult, Workload};
use crate::report::{Report, mb};
use crate::seed::{self, SEED};
use crate::server::{ServerProcess, cpu_time_of};

pub const DEFAULT_CASES: usize = 1_000_000;

/// One progress query per operation on a random case of the history.
pub struct QueryWork {
    api: Api,
    generator: Generator,
    end: NaiveDate,
    cases: usize,
    counter: AtomicU64,
    limit: Option<u64>,
}

impl QueryWork {
    /// Queries on the `cases` cases of the history ending on `end`
    /// ([`seed::historic_cases`]); at most `limit` of them when given.
    pub fn new(api: Api, cases: usize, end: NaiveDate, limit: Option<u64>) -> Self {
        Self {
            api,
            generator: Generator::new(SEED),
            end,
            cases: cases.max(1),
            counter: AtomicU64::new(0),
            limit,
        }
    }
}

fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Workload for QueryWork {
    async fn run_one(&self, _worker: usize) -> OpResult {
        let k = self.counter.fetch_add(1, Ordering::Relaxed);
        if self.limit.is_some_and(|limit| k >= limit) {
            return OpResult::Exhausted;
        }
        let n = mix(k ^ 0x5EED);
        let i = usize::try_from(n % self.cases as u64).unwrap_or(0);
        let plan = seed::planned_case(&self.generator, self.end, i);
        let matching = !n.is_multiple_of(10);
        let name = if matching {
            plan.name.clone()
        } else {
            format!("{}某", plan.name)
        };
        let body = json!({
            "application_no": plan.application_no,
            "id_number": plan.id_number,
            "name": name,
        });
        let what = format!("progress {}", plan.application_no);
        let result = async {
            // Citizens come from many addresses (through the bureau's
            // proxy), so the per-client buckets are many, as in service.
            let client = format!(
                "10.{}.{}.{}",
                (n >> 48) & 0xFF,
                (n >> 40) & 0xFF,
                (n >> 32) & 0xFF
            );
            let answer = self
                .api
                .post(
                    "/api/v1/progress",
                    None,
                    &body,
                    &[("X-Forwarded-For", client)],
                )
                .await?;
            if matching {
                let answer = answer.expect(StatusCode::OK, &what)?;
                answer.field_is("application_no", &plan.application_no, &what)?;
                answer.field_is("status", plan.status, &what)?;
                Ok(answer.latency)
            } else {
                let answer = answer.expect(StatusCode::NOT_FOUND, &what)?;
                answer.field_is("code", "PROGRESS_NOT_FOUND", &what)?;
                Ok(answer.latency)
            }
        }
        .await;
        match result {
            Ok(latency) => OpResult::Done(vec![latency]),
            Err(error) => OpResult::Failed(error),
        }
    }
}

/// `query`.
///
/// # Errors
///
/// Set-up failed.
pub async fn run(options: &Options) -> anyhow::Result<Vec<Report>> {
    let cases = options.cases.unwrap_or(DEFAULT_CASES);
    let db = match (&options.keep_data, &options.postgres) {
        (Some(dir), None) => BenchDb::kept(dir)?,
        _ => {
            BenchDb::fresh(
                options.postgres.as_deref(),
                options.work_dir.as_deref(),
                "query",
            )
            .await?
        }
    };
    let result = query_on(&db, options, cases).await;
    db.remove().await;
    Ok(vec![result?])
}

async fn query_on(db: &BenchDb, options: &Options, cases: usize) -> anyhow::Result<Report> {
    let marker = db.dir().join("bench-query.json");
    let end = seed::history_end();
    let reused = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(|m| m["cases"] == json!(cases))
        .and_then(|m| m["end"].as_str().and_then(|d| d.parse::<NaiveDate>().ok()));
    let end = if let Some(kept_end) = reused {
        eprintln!(
            "query: reusing the {cases} cases kept in {}",
            db.dir().display()
        );
        kept_end
    } else {
        eprintln!(
            "query on {}: writing {cases} historic cases …",
            db.backend_name()
        );
        let services = db.services().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
            .fetch_one(services.store().pool())
            .await?;
        anyhow::ensure!(
            count == 0,
            "the database in {} already holds {count} other cases: remove it or name another --keep-data folder",
            db.dir().display()
        );
        seed::historic_cases(&services, cases).await?;
        services.store().close().await;
        std::fs::write(
            &marker,
            json!({ "cases": cases, "end": end.to_string() }).to_string(),
        )?;
        end
    };

    let server = ServerProcess::start(&options.binary, db).await?;
    let api = Api::new(&server.base_url, options.concurrency);
    let work = Arc::new(QueryWork::new(api, cases, end, None));
    eprintln!(
        "  running {} workers for {} s (+{} s warm-up) …",
        options.concurrency,
        options.duration.as_secs(),
        options.warmup.as_secs()
    );
    let server_cpu = server.cpu_time();
    let own_cpu = cpu_time_of("self");
    let measured = load::drive(work, options.concurrency, options.warmup, options.duration).await;
    let server_cpu = server.cpu_time().zip(server_cpu).map(|(b, a)| b - a);
    let own_cpu = cpu_time_of("self").zip(own_cpu).map(|(b, a)| b - a);
    let peak = server.peak_rss();
    server.stop().await?;
    let mut report = Report::from_measured(
        "query",
        db.backend_name(),
        "queries",
        options.concurrency,
        &measured,
    )
    .with("cases_in_database", cases)
    .with("wrong_name_share", 0.1);
    report.peak_rss_mb = peak.map(mb);
    add_cpu(&mut report, server_cpu, own_cpu, measured.operations.len());
    Ok(report)
}
