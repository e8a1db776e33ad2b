//! A fresh database for one scenario: a SQLite file in a temporary folder,
//! or — for a `postgres://` URL — a new database created beside the one the
//! URL names and dropped afterwards.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sscard::service::Services;
use sscard::store::{Backend, DatabaseUrl};

/// Where a scenario's database, key file, blobs and server log live.
pub struct BenchDb {
    pub url: DatabaseUrl,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    postgres: Option<PostgresDb>,
}

struct PostgresDb {
    admin_url: String,
    name: String,
}

impl BenchDb {
    /// A new, empty database: SQLite in a temporary folder under `work_dir`
    /// (the system's temporary folder by default), or a new PostgreSQL
    /// database `sscard_bench_<label>_<random>` on the server of
    /// `postgres_admin_url`.
    ///
    /// # Errors
    ///
    /// The folder or the database cannot be created.
    pub async fn fresh(
        postgres_admin_url: Option<&str>,
        work_dir: Option<&Path>,
        label: &str,
    ) -> anyhow::Result<Self> {
        let parent = work_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!("sscard-bench-{label}-"))
            .tempdir_in(&parent)
            .context("cannot create a temporary folder")?;
        let dir = temp.path().to_path_buf();
        match postgres_admin_url {
            None => Ok(Self {
                url: DatabaseUrl::parse(&format!("sqlite://{}/sscard.db", dir.display()))?,
                dir,
                _temp: Some(temp),
                postgres: None,
            }),
            Some(admin_url) => {
                let name = format!(
                    "sscard_bench_{label}_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                let admin = connect_admin(admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .with_context(|| format!("cannot create the database {name}"))?;
                admin.close().await;
                let mut url = url::Url::parse(admin_url).context("not a PostgreSQL URL")?;
                url.set_path(&format!("/{name}"));
                Ok(Self {
                    url: DatabaseUrl::parse(url.as_str())?,
                    dir,
                    _temp: Some(temp),
                    postgres: Some(PostgresDb {
                        admin_url: admin_url.to_owned(),
                        name,
                    }),
                })
            }
        }
    }

    /// A SQLite database kept in `dir` between runs (`--keep-data`).
    ///
    /// # Errors
    ///
    /// The folder cannot be created.
    pub fn kept(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        Ok(Self {
            url: DatabaseUrl::parse(&format!("sqlite://{}/sscard.db", dir.display()))?,
            dir,
            _temp: None,
            postgres: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// `sqlite` or `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join("keys.json")
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// Migrates, opens (or creates) the key file and loads the shipped guide
    /// and calendar — what `sscard serve` does before its first request —
    /// and gives the services to load data with.
    ///
    /// # Errors
    ///
    /// As `sscard serve` would fail.
    pub async fn services(&self) -> anyhow::Result<Services> {
        Ok(sscard::server::prepare(&self.url, &self.key_file())
            .await?
            .with_blob_store(std::sync::Arc::new(sscard::blobs::FsBlobStore::new(
                self.blob_dir(),
            ))))
    }

    /// Drops the PostgreSQL database (the temporary folder goes with `self`).
    pub async fn remove(self) {
        if let Some(pg) = &self.postgres {
            match connect_admin(&pg.admin_url).await {
                Ok(admin) => {
                    if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        pg.name
                    )))
                    .execute(&admin)
                    .await
                    {
                        eprintln!("warning: cannot drop the database {}: {error}", pg.name);
                    }
                    admin.close().await;
                }
                Err(error) => eprintln!("warning: cannot drop the database {}: {error}", pg.name),
            }
        }
    }
}

async fn connect_admin(url: &str) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("cannot reach the PostgreSQL server of --database-url")
}
