//! The results: a table for people and one JSON line per scenario for
//! scripts (`BENCHMARKS.md` quotes both).

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::load::{Measured, u64_f64};

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Of a histogram of microseconds; `None` when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        (!histogram.is_empty()).then(|| Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        })
    }
}

fn ms(micros: u64) -> f64 {
    (u64_f64(micros) / 10.0).round() / 100.0
}

/// One scenario's (or one part's) figures.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub backend: String,
    pub concurrency: usize,
    /// The measured window, seconds.
    pub duration_s: f64,
    /// What an operation is: `cases`, `queries`, `starts` …
    pub unit: String,
    pub operations: u64,
    /// Operations per second.
    pub throughput_per_s: f64,
    pub requests: u64,
    /// Per HTTP request (per transaction for the baseline).
    pub latency_ms: Option<Latency>,
    /// Per operation (a whole case).
    pub operation_latency_ms: Option<Latency>,
    /// The server's peak resident memory (VmHWM), MB.
    pub peak_rss_mb: Option<f64>,
    /// Requests that failed or answered unexpectedly: must be 0.
    pub errors: u64,
    /// The first few errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    /// Scenario-specific figures (ratios, start-up time, CPU …).
    pub extra: Map<String, Value>,
}

impl Report {
    pub fn from_measured(
        scenario: &str,
        backend: &str,
        unit: &str,
        concurrency: usize,
        measured: &Measured,
    ) -> Self {
        Self {
            scenario: scenario.to_owned(),
            backend: backend.to_owned(),
            concurrency,
            duration_s: round3(measured.elapsed.as_secs_f64()),
            unit: unit.to_owned(),
            operations: measured.operations.len(),
            throughput_per_s: round1(measured.throughput()),
            requests: measured.requests.len(),
            latency_ms: Latency::of(&measured.requests),
            operation_latency_ms: Latency::of(&measured.operations),
            peak_rss_mb: None,
            errors: measured.errors,
            error_samples: measured.first_errors.clone(),
            extra: Map::new(),
        }
    }

    /// One timed run of `operations` items (a batch's rows, a file's
    /// records) that took `elapsed`: no per-request latencies.
    pub fn timed(
        scenario: &str,
        backend: &str,
        unit: &str,
        operations: u64,
        elapsed: std::time::Duration,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            scenario: scenario.to_owned(),
            backend: backend.to_owned(),
            concurrency: 1,
            duration_s: round3(seconds),
            unit: unit.to_owned(),
            operations,
            throughput_per_s: if seconds > 0.0 {
                round1(u64_f64(operations) / seconds)
            } else {
                0.0
            },
            requests: 0,
            latency_ms: None,
            operation_latency_ms: None,
            peak_rss_mb: None,
            errors: 0,
            error_samples: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Counts one error (a failed request, an unexpected outcome).
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors += 1;
        if self.error_samples.len() < 10 {
            self.error_samples.push(message.into());
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.extra.insert(key.to_owned(), value.into());
    }

    /// The JSON line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Bytes as MB (10^6), one decimal.
pub fn mb(bytes: u64) -> f64 {
    round1(u64_f64(bytes) / 1e6)
}

/// Prints the table of `reports`, then one JSON line each.
pub fn print(reports: &[Report]) {
    println!();
    println!(
        "{:<22} {:<10} {:>5} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}  notes",
        "scenario",
        "backend",
        "conc",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "peak MB",
        "errors"
    );
    for r in reports {
        let lat = r.latency_ms;
        let show = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let notes: Vec<String> = r
            .extra
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{:<22} {:<10} {:>5} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}  {}",
            r.scenario,
            r.backend,
            r.concurrency,
            r.operations,
            format!("{:.1} {}", r.throughput_per_s, short_unit(&r.unit)),
            show(lat.map(|l| l.p50)),
            show(lat.map(|l| l.p99)),
            show(lat.map(|l| l.max)),
            r.peak_rss_mb
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            r.errors,
            notes.join(" ")
        );
        for error in &r.error_samples {
            println!("    error: {error}");
        }
    }
    println!();
    for r in reports {
        println!("{}", r.json_line());
    }
}

fn short_unit(unit: &str) -> &str {
    match unit {
        "cases" => "c/s",
        "queries" => "q/s",
        "rows" => "rows/s",
        "records" => "rec/s",
        _ => "/s",
    }
}
