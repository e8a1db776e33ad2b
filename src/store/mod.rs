//! The persistence layer: one code path for SQLite and PostgreSQL.
//!
//! The backend is chosen from the URL scheme at start-up (`sqlite://…` or
//! `postgres://…`; anything else is refused). Queries go through sqlx's `Any`
//! driver with a portable subset of SQL: `$N` placeholders, `TEXT` and
//! `BIGINT` columns only, times as RFC 3339 UTC text. The reason and the
//! limits are written down in `docs/ARCHITECTURE.md`.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod banks;
pub mod batches;
pub mod calendar;
pub mod cases;
pub mod citizens;
pub mod demo;
pub mod feedback;
pub mod guide;
pub mod keys;
pub mod rate_limits;
pub mod registry;
pub mod settings;
pub mod signing_keys;
pub mod slips;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx::AnyPool as Pool;

/// A write transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The embedded migrations, applied at start-up and by `sscard migrate`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database engine serves this store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Failures of the store; the service layer turns them into its own errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL scheme `{scheme}`: use sqlite://PATH (e.g. sqlite://data/sscard.db) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedScheme { scheme: String },
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "this database was migrated by a newer sscard (schema version {applied}; this binary knows up to {known}): run the newer sscard, or restore a backup made with this version"
    )]
    SchemaTooNew { applied: i64, known: i64 },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt ({what}): {reason}")]
    Corrupt { what: String, reason: String },
}

/// A database URL whose scheme has been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Checks the scheme; only `sqlite:` and `postgres:`/`postgresql:` are served.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .ok_or_else(|| StoreError::InvalidUrl("missing `scheme:` prefix".to_owned()))?;
        let backend = match scheme.as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => return Err(StoreError::UnsupportedScheme { scheme }),
        };
        Ok(Self {
            url: url.to_owned(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The SQLite file path, for SQLite URLs other than in-memory ones.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// The URL with any password replaced, safe for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The application's handle on its database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Where write transactions begin: on SQLite a pool of one connection,
    /// so this process's writers queue for it in order instead of
    /// sleep-polling for SQLite's write lock (its busy handler sleeps up to
    /// 100 ms between tries, leaving the lock idle; `BENCHMARKS.md`); on
    /// PostgreSQL the pool itself.
    writer: AnyPool,
}

impl Store {
    /// Connects (creating the SQLite file and its folder when missing).
    /// Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_url = match url.backend {
            Backend::Sqlite => {
                if let Some(path) = url.sqlite_path() {
                    create_parent_dir(&path)?;
                }
                if url.url.contains("mode=") {
                    url.url.clone()
                } else if url.url.contains('?') {
                    format!("{}&mode=rwc", url.url)
                } else {
                    format!("{}?mode=rwc", url.url)
                }
            }
            Backend::Postgres => url.url.clone(),
        };
        let options = AnyConnectOptions::from_str(&connect_url)
            .map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let backend = url.backend;
        let pool = pool_options(backend)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            // One connection: SQLite has one writer at a time anyway.
            Backend::Sqlite => {
                pool_options(backend)
                    .max_connections(1)
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        Ok(Self {
            pool,
            backend,
            writer,
        })
    }

    /// Applies every pending embedded migration, each in its own
    /// transaction. A database migrated by a newer sscard is refused before
    /// anything is touched.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if let Some(applied) = self.schema_version().await? {
            let known = known_schema_version();
            if applied > known {
                return Err(StoreError::SchemaTooNew { applied, known });
            }
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The highest migration applied to this database, if any.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let exists: i64 =
            sqlx::Row::try_get(&sqlx::query(exists_sql).fetch_one(&self.pool).await?, "n")?;
        if exists == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT MAX(version) AS version FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(sqlx::Row::try_get::<Option<i64>, _>(&row, "version")?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool write transactions begin from when it is not [`Store::pool`]:
    /// on SQLite the one-connection writer pool; `None` on PostgreSQL.
    pub fn writer_pool(&self) -> Option<&AnyPool> {
        (self.backend == Backend::Sqlite).then_some(&self.writer)
    }

    /// Readiness: a round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of failing mid-way.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(tx)
    }

    /// Closes every connection (used on shutdown so SQLite checkpoints its WAL).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The options of both pools: the connection settings of each backend.
fn pool_options(backend: Backend) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        // An embedded SQLite connection cannot drop the way a network one
        // can; pinging it before every checkout (a round trip to its worker
        // thread) was measurable work (BENCHMARKS.md).
        .test_before_acquire(backend == Backend::Postgres)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL for concurrent readers, FULL so that an answered
                    // commit survives a power cut, foreign keys enforced.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
}

/// The highest migration this binary carries.
pub fn known_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Formats a time the way every table stores it: RFC 3339, UTC, microseconds.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a stored time back.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: format!("timestamp `{text}`"),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_and_postgres_schemes_are_served() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        let err = DatabaseUrl::parse("mysql://root@localhost/db").unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported database URL scheme `mysql`")
        );
        assert!(DatabaseUrl::parse("data.db").is_err());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/sscard").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(url.redacted().contains("***"));
    }

    #[test]
    fn sqlite_paths_are_found() {
        let url = DatabaseUrl::parse("sqlite://data/sscard.db?mode=rwc").unwrap();
        assert_eq!(url.sqlite_path(), Some(PathBuf::from("data/sscard.db")));
        let memory = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!(memory.sqlite_path(), None);
    }
}
