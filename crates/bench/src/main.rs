//! `sscard-bench SCENARIO…`: see `BENCHMARKS.md` and `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sscard_bench::report;
use sscard_bench::scenarios::{self, Options, Scenario};

/// The load tool of sscard: starts a real `sscard serve` (the release binary:
/// run `cargo build --release` first) on a fresh database, loads generated
/// data, drives it over HTTP and prints a table and one JSON line per
/// scenario. Exits non-zero if any request failed or answered unexpectedly.
#[derive(Debug, Parser)]
#[command(name = "sscard-bench", version)]
struct Cli {
    /// What to measure; several may be given and run one after the other.
    #[arg(value_enum, required = true)]
    scenarios: Vec<Scenario>,
    /// A PostgreSQL server: each scenario creates a fresh database on it
    /// (beside the one named) and drops it afterwards. SQLite in a
    /// temporary folder when omitted.
    #[arg(long, value_name = "postgres://USER@HOST:PORT/DB")]
    database_url: Option<String>,
    /// Concurrent workers (closed loop: each waits for its answer).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds run before measuring (not counted, errors still are).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Prepared cases (lifecycle, baseline; default 20000) or cases in the
    /// database (query: 1000000; startup: 0).
    #[arg(long)]
    cases: Option<usize>,
    /// Window clerks signed in for lifecycle (at most one per worker).
    #[arg(long, default_value_t = 16)]
    clerks: usize,
    /// The server binary [default: target/release/sscard].
    #[arg(long, value_name = "PATH")]
    sscard: Option<PathBuf>,
    /// Where temporary databases go [default: the system's temp folder].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// query on SQLite: keep the database in DIR and reuse it next time.
    #[arg(long, value_name = "DIR")]
    keep_data: Option<PathBuf>,
    /// lifecycle, batch: skip the storage baseline.
    #[arg(long)]
    no_baseline: bool,
    /// batch: rows of the employer's list.
    #[arg(long, default_value_t = sscard_bench::scenarios::batch::DEFAULT_ROWS)]
    rows: u64,
    /// bank: cards exported and answered.
    #[arg(long, default_value_t = sscard_bench::scenarios::bank::DEFAULT_RECORDS)]
    records: u64,
    /// startup: how many starts.
    #[arg(long, default_value_t = 5)]
    starts: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let postgres = match cli.database_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Some(url.to_owned())
        }
        Some(url) if url.starts_with("sqlite:") => {
            eprintln!("error: SQLite needs no --database-url: each run makes its own file");
            return ExitCode::from(2);
        }
        Some(_) => {
            eprintln!("error: --database-url must be a postgres:// URL");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        postgres,
        concurrency: cli.concurrency.max(1),
        duration: Duration::from_secs(cli.duration.max(1)),
        warmup: Duration::from_secs(cli.warmup),
        cases: cli.cases,
        clerks: cli.clerks.max(1),
        binary: cli
            .sscard
            .unwrap_or_else(sscard_bench::server::default_binary),
        work_dir: cli.work_dir,
        keep_data: cli.keep_data,
        no_baseline: cli.no_baseline,
        rows: Some(cli.rows.max(1)),
        records: Some(cli.records.max(1)),
        starts: cli.starts,
    };
    eprintln!(
        "sscard-bench: server {}, {} cores, load average {}",
        options.binary.display(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut reports = Vec::new();
    let mut failed = false;
    for scenario in cli.scenarios {
        match scenarios::run(scenario, &options).await {
            Ok(mut done) => reports.append(&mut done),
            Err(error) => {
                eprintln!("error: {}: {error:#}", scenario.name());
                failed = true;
            }
        }
    }
    report::print(&reports);
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    if errors > 0 {
        eprintln!("FAILED: {errors} request(s) failed or answered unexpectedly");
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
