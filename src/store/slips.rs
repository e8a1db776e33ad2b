//! 业务反馈单 (business feedback slips) and the SM2 keys that sign them
//! (migration `0008_slips.sql`). Rows hold masked content, digests,
//! signatures and sealed keys — never plaintext personal data or keys.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::signing_keys::KeyTable;
use super::{StoreError, format_time, parse_time};

/// The keys that sign slips (see [`super::signing_keys`]).
pub const SIGNING_KEYS: KeyTable = KeyTable::new("slip_keys");

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
