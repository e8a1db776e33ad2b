//! The online backup of an embedded (SQLite) database: `VACUUM INTO` writes
//! a consistent snapshot of the last committed state to a new file while
//! other connections keep reading and writing (WAL mode).

use std::path::{Path, PathBuf};

use super::{Backend, DatabaseUrl, Store, StoreError};

impl DatabaseUrl {
    /// The database file of a `sqlite://PATH` URL (`None` for PostgreSQL and
    /// in-memory SQLite): what `sscard backup` snapshots and `sscard restore`
    /// replaces.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self.backend {
            Backend::Sqlite => self.sqlite_path(),
            Backend::Postgres => None,
        }
    }
}

impl Store {
    /// Writes a consistent snapshot of this SQLite database to `target`, a
    /// file that must not exist yet. Runs online: writers queue for at most
    /// the moment SQLite needs to start its read transaction.
    ///
    /// # Errors
    ///
    /// The store is not SQLite, the path cannot be written into an SQL
    /// string literal safely, or SQLite fails (the target exists, disk full).
    pub async fn snapshot_into(&self, target: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::InvalidUrl(
                "an online snapshot is only taken of an embedded SQLite database".to_owned(),
            ));
        }
        let path = target.to_str().ok_or_else(|| {
            StoreError::InvalidUrl(format!(
                "the backup path {} is not valid UTF-8",
                target.display()
            ))
        })?;
        if path.contains('\0') {
            return Err(StoreError::InvalidUrl(
                "the backup path contains a NUL character".to_owned(),
            ));
        }
        // An SQL string literal: a quote is escaped by doubling it.
        let literal = path.replace('\'', "''");
        let mut conn = self.pool.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{literal}'")))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
