//! Employer batches, the rows of their lists and their steps (migration
//! `0011_batches.sql`), and the bulk statements a chunk of rows needs: one
//! round trip per kind of statement per chunk, never one per row.
//!
//! Claiming rows is the one engine-specific statement: on PostgreSQL the
//! pending rows of a chunk are taken with `FOR UPDATE SKIP LOCKED`, so
//! several servers share one batch without ever taking the same row; on
//! SQLite the chunk's `BEGIN IMMEDIATE` transaction holds the database.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::cases::{StepRow, StepTable};
use super::keys::SealedColumn;
use super::registry::{format_date, parse_date};
use super::{Backend, StoreError, format_time, parse_time};

/// The sealed ID number of a list row.
pub const ID_NUMBER_SEALED: SealedColumn = SealedColumn {
    table: "batch_rows",
    key: "id",
    column: "id_number_sealed",
};

/// How many rows (of `params_per_row` bind parameters each) go into one
/// multi-row statement (`INSERT … VALUES`, `UPDATE … FROM (VALUES …)`,
/// `IN (…)`). sqlx's SQLite driver finds each `$N` by asking SQLite for the
/// parameter's name, which SQLite answers by scanning the statement's
/// parameters: binding costs grow with the square of a statement's
/// parameters, so SQLite statements stay near 100 parameters (measured: 3,250
/// parameters a statement spent 29 % of a batch's time there). PostgreSQL
/// binds by position; its statements take a few thousand (its limit is
/// 65,535), each statement being a round trip.
fn rows_per_statement(conn: &AnyConnection, params_per_row: usize) -> usize {
    let params = if conn.backend_name() == "SQLite" {
        100
    } else {
        4000
    };
    (params / params_per_row.max(1)).max(1)
}

/// `pending`, `succeeded`, `failed`.
pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

/// One batch as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRow {
    pub id: String,
    pub batch_no: String,
    pub item_code: String,
    pub implementation_code: String,
    pub guide_version: i64,
    pub employer_uscc: String,
    pub employer_name: String,
    pub submitted_by: String,
    pub letter_upload_id: String,
    pub letter_status: String,
    pub letter_reason: Option<String>,
    pub list_file_name: String,
    pub list_format: String,
    pub list_encoding: String,
    pub list_digest_sm3: String,
    pub header_row: i64,
    pub ignored_columns: String,
    pub state: String,
    pub outcome: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub rows_total: i64,
    pub rows_done: i64,
    pub rows_succeeded: i64,
    pub rows_failed: i64,
    pub rows_activated: i64,
    pub bank_requests: i64,
    pub chunks_done: i64,
    pub received_at: DateTime<Utc>,
    pub step_started_at: Option<DateTime<Utc>>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    pub case_due: Option<NaiveDate>,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub processing_finished_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const BATCH_COLUMNS: &str = "id, batch_no, item_code, implementation_code, guide_version, \
    employer_uscc, employer_name, submitted_by, letter_upload_id, letter_status, letter_reason, \
    list_file_name, list_format, list_encoding, list_digest_sm3, header_row, ignored_columns, \
    state, outcome, outcome_code, outcome_reason, rows_total, rows_done, rows_succeeded, \
    rows_failed, rows_activated, bank_requests, chunks_done, received_at, step_started_at, \
    step_due, step_due_provisional, case_due, processing_started_at, processing_finished_at, \
    delivered_at, version, created_at, updated_at";

fn opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_time)
        .transpose()
}

fn opt_date(row: &AnyRow, column: &str) -> Result<Option<NaiveDate>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_date)
        .transpose()
}

fn batch_row(row: &AnyRow) -> Result<BatchRow, StoreError> {
    Ok(BatchRow {
        id: row.try_get("id")?,
        batch_no: row.try_get("batch_no")?,
        item_code: row.try_get("item_code")?,
        implementation_code: row.try_get("implementation_code")?,
        guide_version: row.try_get("guide_version")?,
        employer_uscc: row.try_get("employer_uscc")?,
        employer_name: row.try_get("employer_name")?,
        submitted_by: row.try_get("submitted_by")?,
        letter_upload_id: row.try_get("letter_upload_id")?,
        letter_status: row.try_get("letter_status")?,
        letter_reason: row.try_get("letter_reason")?,
        list_file_name: row.try_get("list_file_name")?,
        list_format: row.try_get("list_format")?,
        list_encoding: row.try_get("list_encoding")?,
        list_digest_sm3: row.try_get("list_digest_sm3")?,
        header_row: row.try_get("header_row")?,
        ignored_columns: row.try_get("ignored_columns")?,
        state: row.try_get("state")?,
        outcome: row.try_get("outcome")?,
        outcome_code: row.try_get("outcome_code")?,
        outcome_reason: row.try_get("outcome_reason")?,
        rows_total: row.try_get("rows_total")?,
        rows_done: row.try_get("rows_done")?,
        rows_succeeded: row.try_get("rows_succeeded")?,
        rows_failed: row.try_get("rows_failed")?,
        rows_activated: row.try_get("rows_activated")?,
        bank_requests: row.try_get("bank_requests")?,
        chunks_done: row.try_get("chunks_done")?,
        received_at: parse_time(&row.try_get::<String, _>("received_at")?)?,
        step_started_at: opt_time(row, "step_started_at")?,
        step_due: opt_date(row, "step_due")?,
        step_due_provisional: row.try_get::<i64, _>("step_due_provisional")? != 0,
        case_due: opt_date(row, "case_due")?,
        processing_started_at: opt_time(row, "processing_started_at")?,
        processing_finished_at: opt_time(row, "processing_finished_at")?,
        delivered_at: opt_time(row, "delivered_at")?,
        version: row.try_get("version")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

/// `$first, $first+1, …` for `count` parameters, in parentheses.
fn tuple(first: usize, count: usize) -> String {
    let params: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    format!("({})", params.join(", "))
}

/// `$first, …, $first+count-1`, for an `IN (…)` list.
fn list(first: usize, count: usize) -> String {
    let params: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    params.join(", ")
}

/// SQLite's page cache of this connection, in KiB: widened for the length
/// of a batch transaction, which touches thousands of pages (random persons
/// and cards, their events): with the default 2 MiB SQLite would read the
/// same pages again within the transaction and spill dirty pages to the WAL
/// before the commit. [`narrow_cache`] gives the memory back. PostgreSQL:
/// nothing to do.
pub async fn widen_cache(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "SQLite" {
        sqlx::query("PRAGMA cache_size = -24576")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Back to SQLite's default page cache (2 MiB); pages beyond it are freed
/// as the connection next uses its cache.
pub async fn narrow_cache(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "SQLite" {
        sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// The next batch number's sequence for `day` (YYYYMMDD), counted in the
/// submitting transaction.
pub async fn next_batch_seq(conn: &mut AnyConnection, day: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO batch_counters (day, last) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET last = batch_counters.last + 1 RETURNING last",
    )
    .bind(day.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("last")?)
}

pub async fn insert_batch(conn: &mut AnyConnection, b: &BatchRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO batches ({BATCH_COLUMNS}) VALUES {}",
        tuple(1, 39)
    )))
    .bind(b.id.clone())
    .bind(b.batch_no.clone())
    .bind(b.item_code.clone())
    .bind(b.implementation_code.clone())
    .bind(b.guide_version)
    .bind(b.employer_uscc.clone())
    .bind(b.employer_name.clone())
    .bind(b.submitted_by.clone())
    .bind(b.letter_upload_id.clone())
    .bind(b.letter_status.clone())
    .bind(b.letter_reason.clone())
    .bind(b.list_file_name.clone())
    .bind(b.list_format.clone())
    .bind(b.list_encoding.clone())
    .bind(b.list_digest_sm3.clone())
    .bind(b.header_row)
    .bind(b.ignored_columns.clone())
    .bind(b.state.clone())
    .bind(b.outcome.clone())
    .bind(b.outcome_code.clone())
    .bind(b.outcome_reason.clone())
    .bind(b.rows_total)
    .bind(b.rows_done)
    .bind(b.rows_succeeded)
    .bind(b.rows_failed)
    .bind(b.rows_activated)
    .bind(b.bank_requests)
    .bind(b.chunks_done)
    .bind(format_time(b.received_at))
    .bind(b.step_started_at.map(format_time))
    .bind(b.step_due.map(format_date))
    .bind(i64::from(b.step_due_provisional))
    .bind(b.case_due.map(format_date))
    .bind(b.processing_started_at.map(format_time))
    .bind(b.processing_finished_at.map(format_time))
    .bind(b.delivered_at.map(format_time))
    .bind(b.version)
    .bind(format_time(b.created_at))
    .bind(format_time(b.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The row count, bank requests and header of a batch whose rows are all in.
pub async fn set_batch_rows(
    conn: &mut AnyConnection,
    batch_id: &str,
    rows_total: i64,
    bank_requests: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE batches SET rows_total = $1, bank_requests = $2 WHERE id = $3")
        .bind(rows_total)
        .bind(bank_requests)
        .bind(batch_id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn batch_by_number(
    conn: &mut AnyConnection,
    batch_no: &str,
) -> Result<Option<BatchRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE batch_no = $1"
    )))
    .bind(batch_no.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| batch_row(&row)).transpose()
}

pub async fn batch_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<BatchRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| batch_row(&row)).transpose()
}

/// Takes the batch's row lock (PostgreSQL) for the rest of the
/// transaction, so steps on one batch run one after the other.
pub async fn lock_batch(conn: &mut AnyConnection, batch_no: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE batches SET version = version WHERE batch_no = $1")
        .bind(batch_no.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A step's change of a batch.
#[derive(Clone, Debug)]
pub struct BatchChange {
    pub state: String,
    pub outcome: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub letter_status: String,
    pub letter_reason: Option<String>,
    pub letter_upload_id: String,
    pub step_started_at: Option<DateTime<Utc>>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub processing_finished_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Compare-and-set of a batch's state on `version`; false when another
/// step changed it first.
pub async fn update_batch(
    conn: &mut AnyConnection,
    id: &str,
    version: i64,
    change: &BatchChange,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE batches SET state = $1, outcome = $2, outcome_code = $3, outcome_reason = $4, \
         letter_status = $5, letter_reason = $6, letter_upload_id = $7, step_started_at = $8, \
         step_due = $9, step_due_provisional = $10, processing_started_at = $11, \
         processing_finished_at = $12, delivered_at = $13, updated_at = $14, \
         version = version + 1 WHERE id = $15 AND version = $16",
    )
    .bind(change.state.clone())
    .bind(change.outcome.clone())
    .bind(change.outcome_code.clone())
    .bind(change.outcome_reason.clone())
    .bind(change.letter_status.clone())
    .bind(change.letter_reason.clone())
    .bind(change.letter_upload_id.clone())
    .bind(change.step_started_at.map(format_time))
    .bind(change.step_due.map(format_date))
    .bind(i64::from(change.step_due_provisional))
    .bind(change.processing_started_at.map(format_time))
    .bind(change.processing_finished_at.map(format_time))
    .bind(change.delivered_at.map(format_time))
    .bind(format_time(change.now))
    .bind(id.to_owned())
    .bind(version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Which batches to list.
#[derive(Clone, Debug, Default)]
pub struct BatchFilter {
    /// Only this employer's (an employer sees nothing else).
    pub employer_uscc: Option<String>,
    /// Only these states (all when empty).
    pub states: Vec<String>,
}

/// Batches, newest first.
pub async fn list_batches(
    conn: &mut AnyConnection,
    filter: &BatchFilter,
    limit: i64,
) -> Result<Vec<BatchRow>, StoreError> {
    let mut conditions = Vec::new();
    let mut next = 1;
    if filter.employer_uscc.is_some() {
        conditions.push(format!("employer_uscc = ${next}"));
        next += 1;
    }
    if !filter.states.is_empty() {
        conditions.push(format!("state IN ({})", list(next, filter.states.len())));
        next += filter.states.len();
    }
    let wherein = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {BATCH_COLUMNS} FROM batches {wherein} ORDER BY created_at DESC, batch_no DESC LIMIT ${next}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(uscc) = &filter.employer_uscc {
        query = query.bind(uscc.clone());
    }
    for state in &filter.states {
        query = query.bind(state.clone());
    }
    let rows = query.bind(limit).fetch_all(&mut *conn).await?;
    rows.iter().map(batch_row).collect()
}

/// Batches by state code.
pub async fn count_by_state(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    let rows =
        sqlx::query("SELECT state, COUNT(*) AS n FROM batches GROUP BY state ORDER BY state")
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect()
}

/// Batches being processed that still have pending rows, oldest first.
pub async fn batches_with_pending_rows(
    conn: &mut AnyConnection,
    processing_state: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, batch_no FROM batches WHERE state = $1 AND rows_done < rows_total \
         ORDER BY created_at, batch_no LIMIT $2",
    )
    .bind(processing_state.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("batch_no")?)))
        .collect()
}

/// Adds a chunk's counts to its batch and answers the batch afterwards.
/// On PostgreSQL the update waits for a concurrent chunk of the same batch
/// and adds to its committed counts, so exactly one chunk sees the last row.
pub async fn add_progress(
    conn: &mut AnyConnection,
    batch_id: &str,
    succeeded: i64,
    failed: i64,
    activated: i64,
    now: DateTime<Utc>,
) -> Result<(i64, i64, i64), StoreError> {
    let row = sqlx::query(
        "UPDATE batches SET rows_done = rows_done + $1, rows_succeeded = rows_succeeded + $2, \
         rows_failed = rows_failed + $3, rows_activated = rows_activated + $4, \
         chunks_done = chunks_done + 1, updated_at = $5 WHERE id = $6 \
         RETURNING rows_done, rows_total, chunks_done",
    )
    .bind(succeeded + failed)
    .bind(succeeded)
    .bind(failed)
    .bind(activated)
    .bind(format_time(now))
    .bind(batch_id.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        row.try_get("rows_done")?,
        row.try_get("rows_total")?,
        row.try_get("chunks_done")?,
    ))
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One list row as stored when the list is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBatchRow {
    pub id: String,
    pub line_no: i64,
    pub name: String,
    pub id_number_index: Option<String>,
    pub id_number_sealed: Option<String>,
    pub id_number_masked: String,
    pub card_number: Option<String>,
    pub card_masked: String,
    pub bank_requested: bool,
    pub problem_code: Option<String>,
    pub problem_reason: Option<String>,
}

/// Inserts list rows (pending), a few hundred per statement.
pub async fn insert_rows(
    conn: &mut AnyConnection,
    batch_id: &str,
    rows: &[NewBatchRow],
) -> Result<(), StoreError> {
    const COLUMNS: usize = 13;
    let per_statement = rows_per_statement(conn, COLUMNS);
    for part in rows.chunks(per_statement) {
        let values: Vec<String> = (0..part.len())
            .map(|i| tuple(i * COLUMNS + 1, COLUMNS))
            .collect();
        let sql = format!(
            "INSERT INTO batch_rows (id, batch_id, line_no, name, id_number_index, \
             id_number_sealed, id_number_masked, card_number, card_masked, bank_requested, \
             problem_code, problem_reason, status) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in part {
            query = query
                .bind(row.id.clone())
                .bind(batch_id.to_owned())
                .bind(row.line_no)
                .bind(row.name.clone())
                .bind(row.id_number_index.clone())
                .bind(row.id_number_sealed.clone())
                .bind(row.id_number_masked.clone())
                .bind(row.card_number.clone())
                .bind(row.card_masked.clone())
                .bind(i64::from(row.bank_requested))
                .bind(row.problem_code.clone())
                .bind(row.problem_reason.clone())
                .bind(PENDING.to_owned());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A pending row taken by a chunk, with what the registry holds about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRow {
    pub id: String,
    pub line_no: i64,
    pub name: String,
    pub id_number_index: Option<String>,
    pub card_number: Option<String>,
    pub problem_code: Option<String>,
    pub problem_reason: Option<String>,
    /// The person with the row's blind index.
    pub person: Option<PersonFacts>,
    /// The card with the row's card number (as read; see [`chunk_cards`]).
    pub card: Option<CardFacts>,
    /// The first line of the whole list with the row's blind index.
    pub first_line: Option<i64>,
}

/// Takes up to `limit` pending rows of a batch, in list order, for the rest
/// of the transaction, each with its person, its card and the first line
/// of the list naming the same person — one statement, one row per list
/// row. PostgreSQL: rows another transaction holds are skipped (`FOR UPDATE
/// OF r SKIP LOCKED`), so two servers never take one row; the cards are
/// locked afterwards by [`chunk_cards`], which reads them again.
pub async fn claim_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    batch_id: &str,
    limit: i64,
) -> Result<Vec<PendingRow>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF r SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT r.id, r.line_no, r.name, r.id_number_index, r.card_number, r.problem_code, \
         r.problem_reason, p.id AS p_id, p.name AS p_name, p.employer_uscc AS p_employer, \
         p.enrolment_region AS p_region, p.enrolment_status AS p_status, \
         p.enrolment_since AS p_since, c.id AS c_id, c.person_id AS c_person, \
         c.social_state AS c_state, c.expiry_date AS c_expiry, \
         (SELECT MIN(o.line_no) FROM batch_rows o WHERE o.batch_id = r.batch_id \
          AND o.id_number_index = r.id_number_index) AS first_line \
         FROM batch_rows r \
         LEFT JOIN persons p ON p.id_number_index = r.id_number_index \
         LEFT JOIN cards c ON c.card_number = r.card_number \
         WHERE r.batch_id = $1 AND r.status = $2 ORDER BY r.line_no LIMIT $3{lock}"
    )))
    .bind(batch_id.to_owned())
    .bind(PENDING.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id_number_index: Option<String> = row.try_get("id_number_index")?;
            let card_number: Option<String> = row.try_get("card_number")?;
            let person = match (row.try_get::<Option<String>, _>("p_id")?, &id_number_index) {
                (Some(id), Some(index)) => Some(PersonFacts {
                    id,
                    id_number_index: index.clone(),
                    name: row.try_get("p_name")?,
                    employer_uscc: row.try_get("p_employer")?,
                    enrolment_region: row.try_get("p_region")?,
                    enrolment_status: row.try_get("p_status")?,
                    enrolment_since: parse_date(&row.try_get::<String, _>("p_since")?)?,
                }),
                _ => None,
            };
            let card = match (row.try_get::<Option<String>, _>("c_id")?, &card_number) {
                (Some(id), Some(number)) => Some(CardFacts {
                    id,
                    card_number: number.clone(),
                    person_id: row.try_get("c_person")?,
                    social_state: row.try_get("c_state")?,
                    expiry_date: parse_date(&row.try_get::<String, _>("c_expiry")?)?,
                }),
                _ => None,
            };
            Ok(PendingRow {
                id: row.try_get("id")?,
                line_no: row.try_get("line_no")?,
                name: row.try_get("name")?,
                id_number_index,
                card_number,
                problem_code: row.try_get("problem_code")?,
                problem_reason: row.try_get("problem_reason")?,
                person,
                card,
                first_line: row.try_get("first_line")?,
            })
        })
        .collect()
}

/// The rows of a chunk, by their place in the list: the batch and the
/// first and last line the chunk took. Statements about a chunk's rows join
/// `batch_rows` over this range (the unique index on `(batch_id, line_no)`)
/// rather than binding one parameter per row. On PostgreSQL the range may
/// hold rows another server took (skipped when claiming): reads about them
/// are harmless, and every write names the chunk (`chunk_no`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    pub batch_id: String,
    pub first_line: i64,
    pub last_line: i64,
}

/// What a chunk decides about its rows, one group per distinct result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultGroup {
    pub status: &'static str,
    pub code: String,
    pub reason: String,
    /// The rows' cards are activated: `card_id` is set from the card number.
    pub activated: bool,
    /// The row ids.
    pub rows: Vec<String>,
}

/// Writes a chunk's results (rows still pending only), a statement per
/// group (and per hundred rows on SQLite). Returns how many rows changed.
pub async fn write_results(
    conn: &mut AnyConnection,
    groups: &[ResultGroup],
    chunk_no: i64,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let per_statement = rows_per_statement(conn, 1).saturating_sub(6).max(1);
    let mut changed = 0;
    for group in groups {
        let card = if group.activated {
            "(SELECT c.id FROM cards c WHERE c.card_number = batch_rows.card_number)"
        } else {
            "NULL"
        };
        for part in group.rows.chunks(per_statement) {
            let sql = format!(
                "UPDATE batch_rows SET status = $1, result_code = $2, result_reason = $3, \
                 chunk_no = $4, processed_at = $5, card_id = {card} \
                 WHERE status = $6 AND id IN ({})",
                list(7, part.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(group.status.to_owned())
                .bind(group.code.clone())
                .bind(group.reason.clone())
                .bind(chunk_no)
                .bind(format_time(now))
                .bind(PENDING.to_owned());
            for id in part {
                query = query.bind(id.clone());
            }
            changed += query.execute(&mut *conn).await?.rows_affected();
        }
    }
    Ok(changed)
}

/// One row of the result, for the report and the pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub line_no: i64,
    pub name: String,
    pub id_number_masked: String,
    pub card_masked: String,
    pub bank_requested: bool,
    pub status: String,
    pub result_code: Option<String>,
    pub result_reason: Option<String>,
}

/// The rows after `after_line`, in list order, at most `limit`.
pub async fn rows_page(
    conn: &mut AnyConnection,
    batch_id: &str,
    after_line: i64,
    limit: i64,
) -> Result<Vec<ReportRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT line_no, name, id_number_masked, card_masked, bank_requested, status, \
         result_code, result_reason FROM batch_rows WHERE batch_id = $1 AND line_no > $2 \
         ORDER BY line_no LIMIT $3",
    )
    .bind(batch_id.to_owned())
    .bind(after_line)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ReportRow {
                line_no: row.try_get("line_no")?,
                name: row.try_get("name")?,
                id_number_masked: row.try_get("id_number_masked")?,
                card_masked: row.try_get("card_masked")?,
                bank_requested: row.try_get::<i64, _>("bank_requested")? != 0,
                status: row.try_get("status")?,
                result_code: row.try_get("result_code")?,
                result_reason: row.try_get("result_reason")?,
            })
        })
        .collect()
}

/// Failed rows by code, most frequent first.
pub async fn failures_by_code(
    conn: &mut AnyConnection,
    batch_id: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT result_code, COUNT(*) AS n FROM batch_rows WHERE batch_id = $1 AND status = $2 \
         GROUP BY result_code ORDER BY COUNT(*) DESC, result_code",
    )
    .bind(batch_id.to_owned())
    .bind(FAILED.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<Option<String>, _>("result_code")?
                    .unwrap_or_default(),
                row.try_get("n")?,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The registry, in bulk
// ---------------------------------------------------------------------------

/// What a chunk needs to know of a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonFacts {
    pub id: String,
    pub id_number_index: String,
    pub name: String,
    pub employer_uscc: Option<String>,
    pub enrolment_region: String,
    pub enrolment_status: String,
    pub enrolment_since: NaiveDate,
}

/// What a chunk needs to know of a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardFacts {
    pub id: String,
    pub card_number: String,
    pub person_id: String,
    pub social_state: String,
    pub expiry_date: NaiveDate,
}

/// The cards named by the chunk's pending rows. On PostgreSQL their row
/// locks are taken, in id order (so two chunks never wait for each other in
/// a circle), and held to the end of the transaction: nothing changes them
/// between the decision and the activation.
pub async fn chunk_cards(
    conn: &mut AnyConnection,
    backend: Backend,
    chunk: &ChunkRange,
) -> Result<Vec<CardFacts>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " ORDER BY c.id FOR UPDATE",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.card_number, c.person_id, c.social_state, c.expiry_date FROM cards c \
         WHERE c.card_number IN (SELECT r.card_number FROM batch_rows r WHERE r.batch_id = $1 \
         AND r.line_no BETWEEN $2 AND $3 AND r.status = $4 AND r.card_number IS NOT NULL){lock}"
    )))
    .bind(chunk.batch_id.clone())
    .bind(chunk.first_line)
    .bind(chunk.last_line)
    .bind(PENDING.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CardFacts {
                id: row.try_get("id")?,
                card_number: row.try_get("card_number")?,
                person_id: row.try_get("person_id")?,
                social_state: row.try_get("social_state")?,
                expiry_date: parse_date(&row.try_get::<String, _>("expiry_date")?)?,
            })
        })
        .collect()
}

/// 启用 of the cards of the chunk's activated rows, by compare-and-set:
/// `from` → `to` for each card still in `from`. Returns how many changed.
pub async fn activate_chunk_cards(
    conn: &mut AnyConnection,
    chunk: &ChunkRange,
    chunk_no: i64,
    activated_code: &str,
    (from, to): (&str, &str),
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE cards SET social_state = $1, updated_at = $2 WHERE social_state = $3 \
         AND id IN (SELECT r.card_id FROM batch_rows r WHERE r.batch_id = $4 \
         AND r.line_no BETWEEN $5 AND $6 AND r.chunk_no = $7 AND r.result_code = $8)",
    )
    .bind(to.to_owned())
    .bind(format_time(now))
    .bind(from.to_owned())
    .bind(chunk.batch_id.clone())
    .bind(chunk.first_line)
    .bind(chunk.last_line)
    .bind(chunk_no)
    .bind(activated_code.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// What the card events of a chunk say besides their card.
#[derive(Clone, Debug)]
pub struct ChunkEvent<'a> {
    pub occurred_at: DateTime<Utc>,
    pub from_state: &'a str,
    pub to_state: &'a str,
    pub event: &'a str,
    /// The reason starts with this, then ` 第 N 行`.
    pub reason_prefix: String,
    pub actor: &'a str,
    pub actor_role: &'a str,
}

/// One card event per activated row of the chunk, each card's next number,
/// the event's id `batch:<row id>` (so one row can never give a card two
/// activation events). Returns how many were inserted.
pub async fn insert_chunk_events(
    conn: &mut AnyConnection,
    chunk: &ChunkRange,
    chunk_no: i64,
    activated_code: &str,
    event: &ChunkEvent<'_>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO card_events (id, card_id, seq, occurred_at, application, from_state, \
         to_state, event, reason, actor, actor_role) \
         SELECT 'batch:' || r.id, r.card_id, \
         (SELECT COALESCE(MAX(e.seq), 0) + 1 FROM card_events e WHERE e.card_id = r.card_id), \
         $1, 'social', $2, $3, $4, $5 || ' 第 ' || r.line_no || ' 行', $6, $7 \
         FROM batch_rows r WHERE r.batch_id = $8 AND r.line_no BETWEEN $9 AND $10 \
         AND r.chunk_no = $11 AND r.result_code = $12",
    )
    .bind(format_time(event.occurred_at))
    .bind(event.from_state.to_owned())
    .bind(event.to_state.to_owned())
    .bind(event.event.to_owned())
    .bind(event.reason_prefix.clone())
    .bind(event.actor.to_owned())
    .bind(event.actor_role.to_owned())
    .bind(chunk.batch_id.clone())
    .bind(chunk.first_line)
    .bind(chunk.last_line)
    .bind(chunk_no)
    .bind(activated_code.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

/// The steps of batches (`StepRow::case_id` holds the batch id).
pub const BATCH_STEPS: StepTable = StepTable {
    table: "batch_steps",
    owner: "batch_id",
};

/// Appends a step of a batch (`step.case_id` holds the batch id); its `seq`
/// is the next of the batch.
pub async fn insert_step(conn: &mut AnyConnection, step: &StepRow) -> Result<i64, StoreError> {
    super::cases::insert_step_in(conn, BATCH_STEPS, step).await
}

/// The steps of a batch, in order (`case_id` holds the batch id).
pub async fn steps_of(
    conn: &mut AnyConnection,
    batch_id: &str,
) -> Result<Vec<StepRow>, StoreError> {
    super::cases::steps_in(conn, BATCH_STEPS, batch_id).await
}
