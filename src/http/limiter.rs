//! Where the rate-limit buckets of [`super::hardening::rate_limit`] live.
//!
//! - [`Limiter::Memory`]: in this process ([`RateLimiter`], a mutex-guarded
//!   map). Right for the embedded SQLite database, which one node serves.
//! - [`Limiter::Shared`]: in the database (`rate_limit_buckets`, migration
//!   0012), for PostgreSQL, where several nodes serve one database and a
//!   budget must hold across all of them: the same GCRA, one upsert per
//!   limited request (`store::rate_limits::take`, through a small pool that
//!   commits without waiting for the WAL flush). Buckets that are full again
//!   are deleted at most once a minute per node, off the request path.
//!
//! The choice follows the database ([`BucketStore::Auto`]); measurements are
//! in `BENCHMARKS.md`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::hardening::{Budget, RateLimiter, RateLimits, client_key};
use crate::store::rate_limits::{self, Taken};
use crate::store::{Backend, Store};

/// Requests refused by a rate limit, by budget.
pub const RATE_LIMITED: &str = "sscard_rate_limited_total";
/// Limited requests let through unchecked because the shared buckets could
/// not be read or written (the limiter fails open), by budget.
pub const RATE_LIMIT_STORE_ERRORS: &str = "sscard_rate_limit_store_errors_total";

/// How often a node deletes the buckets that are full again.
const PRUNE_EVERY_MICROS: i64 = 60_000_000;
/// A bucket is pruned only this long after it was full again, so a node
/// whose clock runs a little behind another's never loses a client's debt.
const PRUNE_MARGIN_MICROS: i64 = 60_000_000;

/// Where the buckets live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BucketStore {
    /// In memory for SQLite (one node), in the database for PostgreSQL.
    #[default]
    Auto,
    /// In this process, whatever the database.
    Memory,
    /// In the database, whatever the database.
    Database,
}

/// The rate-limit buckets of this server.
#[derive(Debug)]
pub enum Limiter {
    /// Buckets in this process: one node (SQLite).
    Memory(RateLimiter),
    /// Buckets in the database, shared by every node (PostgreSQL).
    Shared(SharedLimiter),
}

impl Limiter {
    /// The buckets of `limits` where `choice` says: with
    /// [`BucketStore::Auto`], in memory for SQLite (one node) and in the
    /// database for PostgreSQL (any number of nodes).
    pub fn new(choice: BucketStore, store: &Store, limits: RateLimits) -> Self {
        let shared = match choice {
            BucketStore::Auto => store.backend() == Backend::Postgres,
            BucketStore::Memory => false,
            BucketStore::Database => true,
        };
        if shared {
            Self::Shared(SharedLimiter::new(store, limits))
        } else {
            Self::Memory(RateLimiter::new(limits))
        }
    }

    /// Takes one request from the client's bucket; `Err` holds how long the
    /// client has to wait for the next one.
    pub async fn check(&self, budget: Budget, client: IpAddr) -> Result<(), Duration> {
        let result = match self {
            Self::Memory(limiter) => limiter.check(budget, client),
            Self::Shared(limiter) => limiter.check(budget, client).await,
        };
        if result.is_err() {
            metrics::counter!(RATE_LIMITED, "budget" => budget_code(budget)).increment(1);
        }
        result
    }

    /// The pool of its own the shared buckets go through (PostgreSQL), for
    /// the pool gauges of `/metrics`; `None` when the buckets are in memory
    /// or share the store's pool (SQLite).
    pub fn own_pool(&self) -> Option<&sqlx::AnyPool> {
        match self {
            Self::Shared(limiter) if limiter.own_pool => Some(&limiter.pool),
            _ => None,
        }
    }
}

/// The buckets in the database.
#[derive(Debug)]
pub struct SharedLimiter {
    /// [`Store::bucket_pool`].
    pool: sqlx::AnyPool,
    /// Whether `pool` is a pool of its own (PostgreSQL), not the store's.
    own_pool: bool,
    limits: RateLimits,
    /// When this node last pruned (µs since the epoch; 0: not yet).
    pruned_at: AtomicI64,
}

impl SharedLimiter {
    pub fn new(store: &Store, limits: RateLimits) -> Self {
        Self {
            pool: store.bucket_pool(),
            own_pool: store.backend() == Backend::Postgres,
            limits,
            pruned_at: AtomicI64::new(0),
        }
    }

    /// As [`RateLimiter::check`], on the shared row of the budget and
    /// client. When the database cannot be reached the request is let
    /// through — *fail open* — and that is made visible: a warning in the
    /// log (the budget and the error, never the client) and
    /// [`RATE_LIMIT_STORE_ERRORS`]. Why open: the handler behind the
    /// limiter needs the database too and answers an outage itself, and a
    /// limiter must not turn a fault of one table (or its small pool) into
    /// refusals of every public query; the per-address counters of failed
    /// sign-ins and one-time code requests, kept in the deciding
    /// transactions, and the account lock-outs still hold.
    pub async fn check(&self, budget: Budget, client: IpAddr) -> Result<(), Duration> {
        let limit = self.limits.of(budget);
        let refill = micros(limit.refill_every).max(1);
        let tolerance = refill.saturating_mul(i64::from(limit.burst.saturating_sub(1)));
        let now = now_micros();
        let bucket = format!("{}:{}", budget_code(budget), client_key(client));
        self.prune_now_and_then(now);
        match rate_limits::take(&self.pool, &bucket, now, refill, tolerance).await {
            Ok(Taken::Allowed) => Ok(()),
            Ok(Taken::Refused { wait_micros }) => Err(Duration::from_micros(
                u64::try_from(wait_micros).unwrap_or(1),
            )),
            Err(error) => {
                metrics::counter!(RATE_LIMIT_STORE_ERRORS, "budget" => budget_code(budget))
                    .increment(1);
                tracing::warn!(
                    %error,
                    budget = budget_code(budget),
                    "cannot reach the shared rate-limit buckets; letting the request through unchecked (fail open)"
                );
                Ok(())
            }
        }
    }

    /// Deletes old full buckets in the background, at most once a minute
    /// on this node (a `DELETE` by condition: any node may run it any time).
    fn prune_now_and_then(&self, now: i64) {
        let last = self.pruned_at.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MICROS
            || self
                .pruned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            match rate_limits::prune(&pool, now - PRUNE_MARGIN_MICROS).await {
                Ok(pruned) => tracing::debug!(pruned, "pruned full rate-limit buckets"),
                Err(error) => tracing::warn!(%error, "cannot prune the rate-limit buckets"),
            }
        });
    }
}

/// The budget's name in bucket keys and metric labels.
pub fn budget_code(budget: Budget) -> &'static str {
    match budget {
        Budget::SignIn => "sign_in",
        Budget::CitizenCode => "citizen_code",
        Budget::ProgressQuery => "progress_query",
        Budget::IdentifierCheck => "identifier_check",
        Budget::SlipVerification => "slip_verification",
        Budget::Consultation => "consultation",
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, micros)
}
