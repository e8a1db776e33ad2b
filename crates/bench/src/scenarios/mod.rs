//! The scenarios. Each starts from a fresh database, loads its data, runs,
//! checks and cleans up, and gives its report lines.

pub mod bank;
pub mod batch;
pub mod lifecycle;
pub mod query;
pub mod startup;

use std::path::PathBuf;
use std::time::Duration;

use crate::report::Report;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Complete window cases (submit, accept, approve = activation,
    /// deliver) by signed-in clerks, with the storage baseline beside it.
    Lifecycle,
    /// Public progress queries on a database of `--cases` (1,000,000) cases.
    Query,
    /// The storage's own limit for the writes of `lifecycle`, alone.
    Baseline,
    /// Time to ready on an existing database, and idle memory.
    Startup,
    /// An employer batch of `--rows` (100,000) rows from upload to report,
    /// with the storage baseline beside it.
    Batch,
    /// `sscard bank export` and `import` of `--records` (1,000,000) bank
    /// records.
    Bank,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Lifecycle => "lifecycle",
            Self::Query => "query",
            Self::Baseline => "baseline",
            Self::Startup => "startup",
            Self::Batch => "batch",
            Self::Bank => "bank",
        }
    }
}

/// The options of a run (see `sscard-bench --help`).
#[derive(Clone, Debug)]
pub struct Options {
    /// A PostgreSQL server to create fresh databases on (`--database-url`);
    /// SQLite when `None`.
    pub postgres: Option<String>,
    pub concurrency: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Prepared cases (lifecycle, baseline) or cases in the database
    /// (query, startup); each scenario has its default.
    pub cases: Option<usize>,
    /// Window clerks signed in for `lifecycle` (workers share them).
    pub clerks: usize,
    /// The `sscard` binary to serve with.
    pub binary: PathBuf,
    /// Where temporary databases go (default: the system's temp folder).
    pub work_dir: Option<PathBuf>,
    /// Keep the query scenario's SQLite database here and reuse it.
    pub keep_data: Option<PathBuf>,
    /// Run `lifecycle` and `batch` without their baselines.
    pub no_baseline: bool,
    /// Rows of the `batch` list (default 100,000).
    pub rows: Option<u64>,
    /// Bank records of `bank` (default 1,000,000).
    pub records: Option<u64>,
    /// Server starts of `startup`.
    pub starts: usize,
}

/// Runs one scenario.
///
/// # Errors
///
/// Set-up failed (the server did not start, data could not be loaded …).
/// Failed requests are not errors here: they are counted in the reports.
pub async fn run(scenario: Scenario, options: &Options) -> anyhow::Result<Vec<Report>> {
    match scenario {
        Scenario::Lifecycle => lifecycle::run(options, !options.no_baseline).await,
        Scenario::Baseline => lifecycle::run_baseline_alone(options).await,
        Scenario::Query => query::run(options).await,
        Scenario::Startup => startup::run(options).await,
        Scenario::Batch => batch::run(options).await,
        Scenario::Bank => bank::run(options).await,
    }
}
