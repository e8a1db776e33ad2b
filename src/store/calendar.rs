//! Loaded years of the working-day calendar (工作日历), one JSON document per year.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{StoreError, Tx, format_time, parse_time};

/// One loaded year as stored.
#[derive(Clone, Debug)]
pub struct StoredYear {
    pub year: i32,
    pub source: String,
    pub content_json: String,
    pub imported_at: DateTime<Utc>,
    pub imported_by: String,
}

impl super::Store {
    /// The stored years within `from..=to`.
    pub async fn calendar_years(&self, from: i32, to: i32) -> Result<Vec<StoredYear>, StoreError> {
        let rows = sqlx::query(
            "SELECT year, source, content_json, imported_at, imported_by FROM calendar_years \
             WHERE year >= $1 AND year <= $2 ORDER BY year",
        )
        .bind(i64::from(from))
        .bind(i64::from(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_year).collect()
    }

    /// When each stored year within `from..=to` was (last) imported: a
    /// year whose stamp is unchanged need not be read again.
    pub async fn calendar_year_stamps(
        &self,
        from: i32,
        to: i32,
    ) -> Result<Vec<(i32, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT year, imported_at FROM calendar_years WHERE year >= $1 AND year <= $2 \
             ORDER BY year",
        )
        .bind(i64::from(from))
        .bind(i64::from(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    year_of(row)?,
                    parse_time(&row.try_get::<String, _>("imported_at")?)?,
                ))
            })
            .collect()
    }

    /// Every loaded year number.
    pub async fn calendar_year_numbers(&self) -> Result<Vec<i32>, StoreError> {
        let rows = sqlx::query("SELECT year FROM calendar_years ORDER BY year")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(year_of).collect()
    }
}

/// Inserts a year or replaces its earlier import (corrections are audited by the caller).
pub async fn upsert_year(tx: &mut Tx, year: &StoredYear) -> Result<bool, StoreError> {
    let existed = sqlx::query("SELECT year FROM calendar_years WHERE year = $1")
        .bind(i64::from(year.year))
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    sqlx::query(
        "INSERT INTO calendar_years (year, source, content_json, imported_at, imported_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (year) DO UPDATE SET source = excluded.source, \
         content_json = excluded.content_json, imported_at = excluded.imported_at, \
         imported_by = excluded.imported_by",
    )
    .bind(i64::from(year.year))
    .bind(year.source.clone())
    .bind(year.content_json.clone())
    .bind(format_time(year.imported_at))
    .bind(year.imported_by.clone())
    .execute(&mut **tx)
    .await?;
    Ok(existed)
}

fn stored_year(row: &sqlx::any::AnyRow) -> Result<StoredYear, StoreError> {
    Ok(StoredYear {
        year: year_of(row)?,
        source: row.try_get("source")?,
        content_json: row.try_get("content_json")?,
        imported_at: parse_time(&row.try_get::<String, _>("imported_at")?)?,
        imported_by: row.try_get("imported_by")?,
    })
}

fn year_of(row: &sqlx::any::AnyRow) -> Result<i32, StoreError> {
    let year: i64 = row.try_get("year")?;
    i32::try_from(year).map_err(|e| StoreError::Corrupt {
        what: format!("calendar year {year}"),
        reason: e.to_string(),
    })
}
