//! Published versions of the service guide (办事指南). Rows are inserted, never updated.

use sqlx::Row;

use super::{StoreError, Tx, format_time, parse_time};
use chrono::{DateTime, Utc};

/// One published guide version as stored.
#[derive(Clone, Debug)]
pub struct StoredGuide {
    pub version: u32,
    pub content_json: String,
    pub source_toml: String,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
}

/// A line of the version list.
#[derive(Clone, Debug)]
pub struct GuideVersionInfo {
    pub version: u32,
    pub published_at: DateTime<Utc>,
    pub published_by: String,
}

impl super::Store {
    /// The highest published version, which is the current one.
    pub async fn current_guide(&self) -> Result<Option<StoredGuide>, StoreError> {
        let row = sqlx::query(
            "SELECT version, content_json, source_toml, published_at, published_by \
             FROM guide_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| stored_guide(&row)).transpose()
    }

    /// The highest published version's number.
    pub async fn current_guide_version(&self) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query("SELECT MAX(version) AS version FROM guide_versions")
            .fetch_one(self.pool())
            .await?;
        let version: Option<i64> = row.try_get("version")?;
        version.map(to_version).transpose()
    }

    pub async fn guide_version(&self, version: u32) -> Result<Option<StoredGuide>, StoreError> {
        let row = sqlx::query(
            "SELECT version, content_json, source_toml, published_at, published_by \
             FROM guide_versions WHERE version = $1",
        )
        .bind(i64::from(version))
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| stored_guide(&row)).transpose()
    }

    pub async fn guide_versions(&self) -> Result<Vec<GuideVersionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, published_at, published_by FROM guide_versions ORDER BY version",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GuideVersionInfo {
                    version: version_of(row)?,
                    published_at: parse_time(&row.try_get::<String, _>("published_at")?)?,
                    published_by: row.try_get("published_by")?,
                })
            })
            .collect()
    }
}

/// The highest published version seen inside a transaction (for publish checks).
pub async fn current_version(tx: &mut Tx) -> Result<Option<u32>, StoreError> {
    let row = sqlx::query("SELECT MAX(version) AS version FROM guide_versions")
        .fetch_one(&mut **tx)
        .await?;
    let version: Option<i64> = row.try_get("version")?;
    version.map(to_version).transpose()
}

pub async fn insert_guide_version(tx: &mut Tx, guide: &StoredGuide) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO guide_versions (version, content_json, source_toml, published_at, published_by) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(i64::from(guide.version))
    .bind(guide.content_json.clone())
    .bind(guide.source_toml.clone())
    .bind(format_time(guide.published_at))
    .bind(guide.published_by.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn stored_guide(row: &sqlx::any::AnyRow) -> Result<StoredGuide, StoreError> {
    Ok(StoredGuide {
        version: version_of(row)?,
        content_json: row.try_get("content_json")?,
        source_toml: row.try_get("source_toml")?,
        published_at: parse_time(&row.try_get::<String, _>("published_at")?)?,
        published_by: row.try_get("published_by")?,
    })
}

fn version_of(row: &sqlx::any::AnyRow) -> Result<u32, StoreError> {
    to_version(row.try_get::<i64, _>("version")?)
}

fn to_version(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|e| StoreError::Corrupt {
        what: format!("guide version {value}"),
        reason: e.to_string(),
    })
}
