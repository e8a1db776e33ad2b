//! The closed-loop driver: `concurrency` workers each repeat one operation
//! (a whole case, one query …) until the deadline; request and operation
//! latencies go into HDR histograms (microseconds, 3 significant digits).
//! Operations that end inside the measured window count; errors count
//! whenever they happen, warm-up included.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What one operation did.
pub enum OpResult {
    /// Done; the latency of each HTTP request it made.
    Done(Vec<Duration>),
    /// A request failed or answered unexpectedly.
    Failed(String),
    /// Nothing left to do (e.g. every prepared case is used).
    Exhausted,
}

/// One kind of work the workers repeat.
pub trait Workload: Send + Sync + 'static {
    /// Runs one operation as worker `worker`.
    fn run_one(&self, worker: usize) -> impl Future<Output = OpResult> + Send;
}

/// The figures of one run.
#[derive(Clone)]
pub struct Measured {
    /// Per HTTP request.
    pub requests: Histogram<u64>,
    /// Per operation.
    pub operations: Histogram<u64>,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// The measured window (shorter when the work ran out).
    pub elapsed: Duration,
    pub exhausted: bool,
}

impl Measured {
    fn new() -> Self {
        Self {
            requests: histogram(),
            operations: histogram(),
            errors: 0,
            first_errors: Vec::new(),
            elapsed: Duration::ZERO,
            exhausted: false,
        }
    }

    fn merge(&mut self, other: &Self) {
        let _ = self.requests.add(&other.requests);
        let _ = self.operations.add(&other.operations);
        self.errors += other.errors;
        for error in &other.first_errors {
            if self.first_errors.len() < 10 {
                self.first_errors.push(error.clone());
            }
        }
        self.exhausted |= other.exhausted;
    }

    /// Operations per second over the measured window.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            u64_f64(self.operations.len()) / seconds
        } else {
            0.0
        }
    }
}

/// A histogram of microseconds from 1 µs to 10 minutes.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `d` (clamped into the histogram's range).
pub fn record(histogram: &mut Histogram<u64>, d: Duration) {
    let micros = u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 600_000_000);
    let _ = histogram.record(micros);
}

#[allow(clippy::cast_precision_loss)]
pub fn u64_f64(n: u64) -> f64 {
    n as f64
}

/// Runs `workload` with `concurrency` workers for `warmup` (not measured)
/// and then `duration`.
pub async fn drive<W: Workload>(
    workload: Arc<W>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Measured {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let workload = Arc::clone(&workload);
        tasks.push(tokio::spawn(async move {
            let mut mine = Measured::new();
            let mut last_done = start;
            while Instant::now() < end {
                let began = Instant::now();
                match workload.run_one(worker).await {
                    OpResult::Done(requests) => {
                        let done = Instant::now();
                        if began >= start && done <= end {
                            for request in requests {
                                record(&mut mine.requests, request);
                            }
                            record(&mut mine.operations, done - began);
                            last_done = last_done.max(done);
                        }
                    }
                    OpResult::Failed(error) => {
                        mine.errors += 1;
                        if mine.first_errors.len() < 10 {
                            mine.first_errors.push(error);
                        }
                    }
                    OpResult::Exhausted => {
                        mine.exhausted = true;
                        break;
                    }
                }
            }
            (mine, last_done)
        }));
    }
    let mut all = Measured::new();
    let mut last_done = start;
    for task in tasks {
        match task.await {
            Ok((mine, done)) => {
                all.merge(&mine);
                last_done = last_done.max(done);
            }
            Err(error) => {
                all.errors += 1;
                all.first_errors.push(format!("a worker panicked: {error}"));
            }
        }
    }
    all.elapsed = if all.exhausted {
        last_done.saturating_duration_since(start)
    } else {
        duration
    };
    all
}
