//! `startup`: the time from starting `sscard serve` to the first `200` of
//! `GET /readyz` on an existing, migrated database holding the demo data
//! (and `--cases` historic cases, none by default), and the resident memory
//! of the idle server a second later. `--starts` starts (5 by default).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::Options;
use crate::db::BenchDb;
use crate::load::{self, Measured};
use crate::report::{Report, mb};
use crate::seed;
use crate::server::ServerProcess;

/// `startup`.
///
/// # Errors
///
/// Set-up failed or a start failed.
pub async fn run(options: &Options) -> anyhow::Result<Vec<Report>> {
    let db = BenchDb::fresh(
        options.postgres.as_deref(),
        options.work_dir.as_deref(),
        "startup",
    )
    .await?;
    let result = startup_on(&db, options).await;
    db.remove().await;
    Ok(vec![result?])
}

async fn startup_on(db: &BenchDb, options: &Options) -> anyhow::Result<Report> {
    let services = db.services().await?;
    services
        .seed_demo(
            sscard::demo::DEFAULT_SEED,
            &sscard::service::Actor::operator("sscard-bench"),
        )
        .await?;
    if let Some(cases) = options.cases.filter(|n| *n > 0) {
        seed::historic_cases(&services, cases).await?;
    }
    services.store().close().await;
    drop(services);

    let mut starts: Histogram<u64> = load::histogram();
    let mut idle = Vec::new();
    let mut peaks = Vec::new();
    let began = std::time::Instant::now();
    for _ in 0..options.starts.max(1) {
        let server = ServerProcess::start(&options.binary, db).await?;
        load::record(&mut starts, server.ready_after);
        tokio::time::sleep(Duration::from_secs(1)).await;
        idle.extend(server.rss());
        peaks.extend(server.peak_rss());
        server.stop().await?;
    }
    let measured = Measured {
        requests: starts.clone(),
        operations: starts,
        errors: 0,
        first_errors: Vec::new(),
        elapsed: began.elapsed(),
        exhausted: false,
    };
    let mut report = Report::from_measured("startup", db.backend_name(), "starts", 1, &measured)
        .with("idle_rss_mb", idle.iter().copied().max().map_or(0.0, mb))
        .with("cases_in_database", options.cases.unwrap_or(0));
    report.peak_rss_mb = peaks.iter().copied().max().map(mb);
    Ok(report)
}
