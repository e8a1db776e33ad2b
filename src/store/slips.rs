//! 业务反馈单 (business feedback slips) and the SM2 keys that sign them
//! (migration `0008_slips.sql`). Rows hold masked content, digests,
//! signatures and sealed keys — never plaintext personal data or keys.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::{StoreError, format_time, parse_time};

/// The sealed private key of the generated signing key.
pub const PRIVATE_KEY_SEALED: SealedColumn = SealedColumn {
    table: "slip_keys",
    key: "id",
    column: "private_key_sealed",
};

/// The `generated_slot` value of the generated key (at most one row).
pub const GENERATED_SLOT: &str = "generated";

/// A signing key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SlipKeyRow {
    pub id: String,
    /// SEC1 uncompressed point, hex.
    pub public_key: String,
    /// `generated` or `file`.
    pub source: String,
    pub private_key_sealed: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for SlipKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlipKeyRow")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn key_row(row: &AnyRow) -> Result<SlipKeyRow, StoreError> {
    Ok(SlipKeyRow {
        id: row.try_get("id")?,
        public_key: row.try_get("public_key")?,
        source: row.try_get("source")?,
        private_key_sealed: row.try_get("private_key_sealed")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
    })
}

const KEY_COLUMNS: &str = "id, public_key, source, private_key_sealed, created_at";

/// The generated key, if one was stored.
pub async fn generated_key(conn: &mut AnyConnection) -> Result<Option<SlipKeyRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM slip_keys WHERE generated_slot = $1"
    )))
    .bind(GENERATED_SLOT)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| key_row(&row)).transpose()
}

pub async fn key_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<SlipKeyRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM slip_keys WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| key_row(&row)).transpose()
}

/// Every key, oldest first.
pub async fn all_keys(conn: &mut AnyConnection) -> Result<Vec<SlipKeyRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM slip_keys ORDER BY created_at, id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(key_row).collect()
}

/// Stores a key unless one with its id — or, for the generated key, any
/// generated key — is there already; true when this row was written.
pub async fn insert_key(conn: &mut AnyConnection, key: &SlipKeyRow) -> Result<bool, StoreError> {
    let slot = (key.source == GENERATED_SLOT).then_some(GENERATED_SLOT);
    let done = sqlx::query(
        "INSERT INTO slip_keys (id, public_key, source, generated_slot, private_key_sealed, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
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

/// One issued slip as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SlipRow {
    pub id: String,
    pub case_id: String,
    pub application_no: String,
    pub verification_code: String,
    /// Canonical JSON of what the slip certifies (masked).
    pub content: String,
    pub pdf_sm3: String,
    pub pdf_size: i64,
    pub key_id: String,
    /// SM2 `r ‖ s`, hex.
    pub signature: String,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
}

impl std::fmt::Debug for SlipRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlipRow")
            .field("id", &self.id)
            .field("application_no", &self.application_no)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

const SLIP_COLUMNS: &str = "id, case_id, application_no, verification_code, content, pdf_sm3, \
    pdf_size, key_id, signature, issued_at, issued_by";

fn slip_row(row: &AnyRow) -> Result<SlipRow, StoreError> {
    Ok(SlipRow {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        application_no: row.try_get("application_no")?,
        verification_code: row.try_get("verification_code")?,
        content: row.try_get("content")?,
        pdf_sm3: row.try_get("pdf_sm3")?,
        pdf_size: row.try_get("pdf_size")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
        issued_at: parse_time(&row.try_get::<String, _>("issued_at")?)?,
        issued_by: row.try_get("issued_by")?,
    })
}

async fn slip_where(
    conn: &mut AnyConnection,
    column: &str,
    value: &str,
) -> Result<Option<SlipRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SLIP_COLUMNS} FROM slips WHERE {column} = $1"
    )))
    .bind(value.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| slip_row(&row)).transpose()
}

pub async fn slip_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<SlipRow>, StoreError> {
    slip_where(conn, "case_id", case_id).await
}

pub async fn slip_by_code(
    conn: &mut AnyConnection,
    verification_code: &str,
) -> Result<Option<SlipRow>, StoreError> {
    slip_where(conn, "verification_code", verification_code).await
}

pub async fn slip_by_digest(
    conn: &mut AnyConnection,
    pdf_sm3: &str,
) -> Result<Option<SlipRow>, StoreError> {
    slip_where(conn, "pdf_sm3", pdf_sm3).await
}

/// Stores a slip unless its case has one already (a concurrent first
/// request won); true when this row was written. On PostgreSQL a concurrent
/// insert for the same case waits for the other transaction and then does
/// nothing.
pub async fn insert_slip(conn: &mut AnyConnection, slip: &SlipRow) -> Result<bool, StoreError> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO slips ({SLIP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (case_id) DO NOTHING"
    )))
    .bind(slip.id.clone())
    .bind(slip.case_id.clone())
    .bind(slip.application_no.clone())
    .bind(slip.verification_code.clone())
    .bind(slip.content.clone())
    .bind(slip.pdf_sm3.clone())
    .bind(slip.pdf_size)
    .bind(slip.key_id.clone())
    .bind(slip.signature.clone())
    .bind(format_time(slip.issued_at))
    .bind(slip.issued_by.clone())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
