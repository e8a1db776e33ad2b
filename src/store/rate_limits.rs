//! The rate-limit buckets shared by every node of one database (migration
//! 0012): the GCRA of `http::hardening` in one upsert per request.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use super::{Backend, Store, StoreError};

/// The outcome of taking one request from a shared bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    Allowed,
    /// Refused; the client may try again after this many microseconds.
    Refused {
        wait_micros: i64,
    },
}

/// Connections of a node's [`Store::bucket_pool`].
const BUCKET_POOL_SIZE: u32 = 4;

impl Store {
    /// The pool the shared buckets are written through. On PostgreSQL a
    /// small pool of its own whose sessions commit without waiting for the
    /// WAL flush (`synchronous_commit = off`): a bucket is worth no fsync —
    /// a crash of the database may forget the last fraction of a second of
    /// bucket updates, which gives a few clients a few requests back — and
    /// the wait for it tripled the public progress query's median
    /// (BENCHMARKS.md). Connections are opened when first needed. A database
    /// that does not know the setting keeps committing synchronously.
    /// On SQLite, the store's own pool.
    pub fn bucket_pool(&self) -> AnyPool {
        match self.backend {
            Backend::Sqlite => self.pool.clone(),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(BUCKET_POOL_SIZE)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        if let Err(error) = conn.execute("SET synchronous_commit = off").await {
                            tracing::warn!(%error, "rate-limit buckets: cannot switch off synchronous commit; committing synchronously");
                        }
                        Ok(())
                    })
                })
                .connect_lazy_with((*self.pool.connect_options()).clone()),
        }
    }
}

/// Takes one request from `bucket` at `now_micros` (microseconds since the
/// Unix epoch): allowed when the bucket's "full again at" instant is at most
/// `tolerance_micros` ahead (the burst less one, in refill intervals), which
/// then moves on by `refill_micros`. One statement, atomic on both engines
/// (a row lock on PostgreSQL, the write lock on SQLite), so concurrent
/// requests on any node draw on the same budget.
///
/// # Errors
///
/// The database fails.
pub async fn take(
    pool: &AnyPool,
    bucket: &str,
    now_micros: i64,
    refill_micros: i64,
    tolerance_micros: i64,
) -> Result<Taken, StoreError> {
    // SET expressions read the row as it was, so `allowed` and `full_at` are
    // decided from the same old instant.
    let row = sqlx::query(
        "INSERT INTO rate_limit_buckets (bucket, full_at, allowed) VALUES ($1, $2 + $3, 1) \
         ON CONFLICT (bucket) DO UPDATE SET \
           allowed = CASE WHEN rate_limit_buckets.full_at - $2 <= $4 THEN 1 ELSE 0 END, \
           full_at = CASE \
             WHEN rate_limit_buckets.full_at <= $2 THEN $2 + $3 \
             WHEN rate_limit_buckets.full_at - $2 <= $4 THEN rate_limit_buckets.full_at + $3 \
             ELSE rate_limit_buckets.full_at END \
         RETURNING full_at, allowed",
    )
    .bind(bucket.to_owned())
    .bind(now_micros)
    .bind(refill_micros)
    .bind(tolerance_micros)
    .fetch_one(pool)
    .await?;
    let allowed: i64 = row.try_get("allowed")?;
    if allowed == 1 {
        return Ok(Taken::Allowed);
    }
    let full_at: i64 = row.try_get("full_at")?;
    Ok(Taken::Refused {
        wait_micros: (full_at - now_micros - tolerance_micros).max(1),
    })
}

/// Deletes the buckets that were full again before `before_micros` (they
/// mean the same as no row). Any node may run it at any time.
///
/// # Errors
///
/// The database fails.
pub async fn prune(pool: &AnyPool, before_micros: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM rate_limit_buckets WHERE full_at < $1")
        .bind(before_micros)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
