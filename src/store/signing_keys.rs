//! The bureau's SM2 signing keys, one table per purpose with the same
//! columns: `slip_keys` (业务反馈单, migration `0008_slips.sql`) and
//! `bank_keys` (answers to banks, migration `0010_banks.sql`). At most one
//! generated key per table (its `generated_slot` is `generated`), sealed;
//! keys read from a file are stored with their public half only.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::{StoreError, format_time, parse_time};

/// The `generated_slot` value of the generated key (at most one row).
pub const GENERATED_SLOT: &str = "generated";

/// A table of signing keys (`id, public_key, source, generated_slot,
/// private_key_sealed, created_at`).
#[derive(Clone, Copy, Debug)]
pub struct KeyTable {
    table: &'static str,
}

impl KeyTable {
    #[must_use]
    pub const fn new(table: &'static str) -> Self {
        Self { table }
    }

    /// The sealed private key of the generated key.
    #[must_use]
    pub const fn private_key_sealed(&self) -> SealedColumn {
        SealedColumn {
            table: self.table,
            key: "id",
            column: "private_key_sealed",
        }
    }
}

/// A signing key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    /// SEC1 uncompressed point, hex.
    pub public_key: String,
    /// `generated` or `file`.
    pub source: String,
    pub private_key_sealed: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

const KEY_COLUMNS: &str = "id, public_key, source, private_key_sealed, created_at";

fn key_row(row: &AnyRow) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        id: row.try_get("id")?,
        public_key: row.try_get("public_key")?,
        source: row.try_get("source")?,
        private_key_sealed: row.try_get("private_key_sealed")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
    })
}

/// The generated key, if one was stored.
pub async fn generated_key(
    conn: &mut AnyConnection,
    keys: KeyTable,
) -> Result<Option<KeyRow>, StoreError> {
    let table = keys.table;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM {table} WHERE generated_slot = $1"
    )))
    .bind(GENERATED_SLOT)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| key_row(&row)).transpose()
}

/// The key with this id, if stored.
pub async fn key_by_id(
    conn: &mut AnyConnection,
    keys: KeyTable,
    id: &str,
) -> Result<Option<KeyRow>, StoreError> {
    let table = keys.table;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM {table} WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| key_row(&row)).transpose()
}

/// Every key, oldest first.
pub async fn all_keys(conn: &mut AnyConnection, keys: KeyTable) -> Result<Vec<KeyRow>, StoreError> {
    let table = keys.table;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM {table} ORDER BY created_at, id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(key_row).collect()
}

/// Stores a key unless one with its id — or, for the generated key, any
/// generated key — is there already; true when this row was written.
pub async fn insert_key(
    conn: &mut AnyConnection,
    keys: KeyTable,
    key: &KeyRow,
) -> Result<bool, StoreError> {
    let table = keys.table;
    let slot = (key.source == GENERATED_SLOT).then_some(GENERATED_SLOT);
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (id, public_key, source, generated_slot, private_key_sealed, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    )))
    .bind(key.id.clone())
    .bind(key.public_key.clone())
    .bind(key.source.clone())
    .bind(slot)
    .bind(key.private_key_sealed.clone())
    .bind(format_time(key.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
