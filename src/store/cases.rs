//! Cases, their materials, uploads, steps and idempotency keys (migration
//! `0007_cases.sql`). Rows hold what the tables hold — sealed and masked
//! personal data, never plaintext.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::registry::{format_date, parse_date};
use super::{StoreError, format_time, parse_time};

/// The sealed application form of a case.
pub const FORM_SEALED: SealedColumn = SealedColumn {
    table: "cases",
    key: "id",
    column: "form_sealed",
};

/// One case as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub id: String,
    pub application_no: String,
    pub item_code: String,
    pub implementation_code: String,
    pub guide_version: i64,
    pub channel: String,
    pub service: String,
    pub person_id: Option<String>,
    pub applicant_index: String,
    pub applicant_name: String,
    pub applicant_id_masked: String,
    pub card_id: Option<String>,
    pub card_number: String,
    pub has_agent: bool,
    pub agent_name: Option<String>,
    pub agent_id_masked: Option<String>,
    pub form_sealed: String,
    pub delivery_method: String,
    pub delivery_address_masked: Option<String>,
    pub inbound_waybill: Option<String>,
    pub state: String,
    pub outcome: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub received_at: DateTime<Utc>,
    pub step_started_at: Option<DateTime<Utc>>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    pub case_due: Option<NaiveDate>,
    pub delivery_detail: Option<String>,
    pub submitted_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for CaseRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseRow")
            .field("application_no", &self.application_no)
            .field("state", &self.state)
            .field("outcome", &self.outcome)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const CASE_COLUMNS: &str = "id, application_no, item_code, implementation_code, guide_version, \
    channel, service, person_id, applicant_index, applicant_name, applicant_id_masked, card_id, \
    card_number, has_agent, agent_name, agent_id_masked, form_sealed, delivery_method, \
    delivery_address_masked, inbound_waybill, state, outcome, outcome_code, outcome_reason, \
    received_at, step_started_at, step_due, step_due_provisional, case_due, delivery_detail, \
    submitted_by, version, created_at, updated_at";

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

fn case_row(row: &AnyRow) -> Result<CaseRow, StoreError> {
    Ok(CaseRow {
        id: row.try_get("id")?,
        application_no: row.try_get("application_no")?,
        item_code: row.try_get("item_code")?,
        implementation_code: row.try_get("implementation_code")?,
        guide_version: row.try_get("guide_version")?,
        channel: row.try_get("channel")?,
        service: row.try_get("service")?,
        person_id: row.try_get("person_id")?,
        applicant_index: row.try_get("applicant_index")?,
        applicant_name: row.try_get("applicant_name")?,
        applicant_id_masked: row.try_get("applicant_id_masked")?,
        card_id: row.try_get("card_id")?,
        card_number: row.try_get("card_number")?,
        has_agent: row.try_get::<i64, _>("has_agent")? != 0,
        agent_name: row.try_get("agent_name")?,
        agent_id_masked: row.try_get("agent_id_masked")?,
        form_sealed: row.try_get("form_sealed")?,
        delivery_method: row.try_get("delivery_method")?,
        delivery_address_masked: row.try_get("delivery_address_masked")?,
        inbound_waybill: row.try_get("inbound_waybill")?,
        state: row.try_get("state")?,
        outcome: row.try_get("outcome")?,
        outcome_code: row.try_get("outcome_code")?,
        outcome_reason: row.try_get("outcome_reason")?,
        received_at: parse_time(&row.try_get::<String, _>("received_at")?)?,
        step_started_at: opt_time(row, "step_started_at")?,
        step_due: opt_date(row, "step_due")?,
        step_due_provisional: row.try_get::<i64, _>("step_due_provisional")? != 0,
        case_due: opt_date(row, "case_due")?,
        delivery_detail: row.try_get("delivery_detail")?,
        submitted_by: row.try_get("submitted_by")?,
        version: row.try_get("version")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

/// The next application number's sequence for `day` (YYYYMMDD), counted in
/// the caller's transaction.
pub async fn next_application_seq(conn: &mut AnyConnection, day: &str) -> Result<i64, StoreError> {
    // One statement both engines run atomically: the first submitter of a
    // day inserts the row, later ones (and a concurrent first one, after
    // waiting for its row lock on PostgreSQL) increment it.
    let row = sqlx::query(
        "INSERT INTO case_counters (day, last) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET last = case_counters.last + 1 RETURNING last",
    )
    .bind(day.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("last")?)
}

pub async fn insert_case(conn: &mut AnyConnection, case: &CaseRow) -> Result<(), StoreError> {
    let placeholders: Vec<String> = (1..=34).map(|i| format!("${i}")).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cases ({CASE_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    )))
    .bind(case.id.clone())
    .bind(case.application_no.clone())
    .bind(case.item_code.clone())
    .bind(case.implementation_code.clone())
    .bind(case.guide_version)
    .bind(case.channel.clone())
    .bind(case.service.clone())
    .bind(case.person_id.clone())
    .bind(case.applicant_index.clone())
    .bind(case.applicant_name.clone())
    .bind(case.applicant_id_masked.clone())
    .bind(case.card_id.clone())
    .bind(case.card_number.clone())
    .bind(i64::from(case.has_agent))
    .bind(case.agent_name.clone())
    .bind(case.agent_id_masked.clone())
    .bind(case.form_sealed.clone())
    .bind(case.delivery_method.clone())
    .bind(case.delivery_address_masked.clone())
    .bind(case.inbound_waybill.clone())
    .bind(case.state.clone())
    .bind(case.outcome.clone())
    .bind(case.outcome_code.clone())
    .bind(case.outcome_reason.clone())
    .bind(format_time(case.received_at))
    .bind(case.step_started_at.map(format_time))
    .bind(case.step_due.map(format_date))
    .bind(i64::from(case.step_due_provisional))
    .bind(case.case_due.map(format_date))
    .bind(case.delivery_detail.clone())
    .bind(case.submitted_by.clone())
    .bind(case.version)
    .bind(format_time(case.created_at))
    .bind(format_time(case.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn case_by_number(
    conn: &mut AnyConnection,
    application_no: &str,
) -> Result<Option<CaseRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE application_no = $1"
    )))
    .bind(application_no.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| case_row(&row)).transpose()
}

/// A case by its row id.
pub async fn case_by_id(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<CaseRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"
    )))
    .bind(case_id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| case_row(&row)).transpose()
}

/// Takes the case's row lock for the rest of the transaction (PostgreSQL;
/// SQLite's writers are serialised by `BEGIN IMMEDIATE` already), so that
/// actions on one case run one after the other. False when there is no such
/// case.
pub async fn lock_case(conn: &mut AnyConnection, application_no: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE cases SET version = version WHERE application_no = $1")
        .bind(application_no.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The changes one action makes to a case row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseChange {
    pub state: String,
    pub outcome: Option<String>,
    pub outcome_code: Option<String>,
    pub outcome_reason: Option<String>,
    pub step_started_at: Option<DateTime<Utc>>,
    pub step_due: Option<NaiveDate>,
    pub step_due_provisional: bool,
    pub delivery_detail: Option<String>,
    pub now: DateTime<Utc>,
}

/// Compare-and-set of a case: applies `change` only if the case is still at
/// `expected_version`; false when another action won the race.
pub async fn update_case(
    conn: &mut AnyConnection,
    case_id: &str,
    expected_version: i64,
    change: &CaseChange,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE cases SET state = $1, outcome = $2, outcome_code = $3, outcome_reason = $4, \
         step_started_at = $5, step_due = $6, step_due_provisional = $7, \
         delivery_detail = COALESCE($8, delivery_detail), updated_at = $9, version = version + 1 \
         WHERE id = $10 AND version = $11",
    )
    .bind(change.state.clone())
    .bind(change.outcome.clone())
    .bind(change.outcome_code.clone())
    .bind(change.outcome_reason.clone())
    .bind(change.step_started_at.map(format_time))
    .bind(change.step_due.map(format_date))
    .bind(i64::from(change.step_due_provisional))
    .bind(change.delivery_detail.clone())
    .bind(format_time(change.now))
    .bind(case_id.to_owned())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Filters of a case list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only these state codes (empty: any).
    pub states: Vec<String>,
    /// Only cases whose running step was due before this day.
    pub overdue_before: Option<NaiveDate>,
    /// Only this applicant (blind index).
    pub applicant_index: Option<String>,
    pub limit: i64,
}

/// Cases matching `filter`: the most urgent first (earliest due date), then
/// the oldest.
pub async fn list_cases(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
) -> Result<Vec<CaseRow>, StoreError> {
    let mut sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    if !filter.states.is_empty() {
        let mut marks = Vec::new();
        for state in &filter.states {
            binds.push(state.clone());
            marks.push(format!("${}", binds.len()));
        }
        sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
    }
    if let Some(day) = filter.overdue_before {
        binds.push(format_date(day));
        sql.push_str(&format!(
            " AND step_due IS NOT NULL AND step_due < ${}",
            binds.len()
        ));
    }
    if let Some(index) = &filter.applicant_index {
        binds.push(index.clone());
        sql.push_str(&format!(" AND applicant_index = ${}", binds.len()));
    }
    sql.push_str(&format!(
        " ORDER BY step_due IS NULL, step_due, created_at LIMIT {}",
        filter.limit.clamp(1, 1000)
    ));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for bind in binds {
        query = query.bind(bind);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(case_row).collect()
}

/// How many cases are in each state (for the workbench's queue counts and
/// the metrics), and how many running ones are past due.
pub async fn count_by_state(
    conn: &mut AnyConnection,
    today: NaiveDate,
) -> Result<(Vec<(String, i64)>, i64), StoreError> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM cases GROUP BY state ORDER BY state")
        .fetch_all(&mut *conn)
        .await?;
    let counts = rows
        .iter()
        .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let overdue = sqlx::query(
        "SELECT COUNT(*) AS n FROM cases WHERE step_due IS NOT NULL AND step_due < $1 \
         AND state IN ('submitted', 'awaiting_processing', 'awaiting_feedback')",
    )
    .bind(format_date(today))
    .fetch_one(&mut *conn)
    .await?;
    Ok((counts, overdue.try_get("n")?))
}

// ---------------------------------------------------------------------------
// Materials
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialRow {
    pub case_id: String,
    pub code: String,
    pub status: String,
    pub reason: Option<String>,
    pub upload_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Writes a material's status (insert or replace).
pub async fn put_material(conn: &mut AnyConnection, m: &MaterialRow) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE case_materials SET status = $1, reason = $2, \
         upload_id = COALESCE($3, upload_id), updated_at = $4 WHERE case_id = $5 AND code = $6",
    )
    .bind(m.status.clone())
    .bind(m.reason.clone())
    .bind(m.upload_id.clone())
    .bind(format_time(m.updated_at))
    .bind(m.case_id.clone())
    .bind(m.code.clone())
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO case_materials (case_id, code, status, reason, upload_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.case_id.clone())
        .bind(m.code.clone())
        .bind(m.status.clone())
        .bind(m.reason.clone())
        .bind(m.upload_id.clone())
        .bind(format_time(m.updated_at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn materials_of(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<MaterialRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT case_id, code, status, reason, upload_id, updated_at FROM case_materials \
         WHERE case_id = $1",
    )
    .bind(case_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(MaterialRow {
                case_id: row.try_get("case_id")?,
                code: row.try_get("code")?,
                status: row.try_get("status")?,
                reason: row.try_get("reason")?,
                upload_id: row.try_get("upload_id")?,
                updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub owner: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub digest_sm3: String,
    pub file_name: String,
    pub case_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_upload(conn: &mut AnyConnection, u: &UploadRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO uploads (id, owner, content_type, size_bytes, digest_sm3, file_name, case_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(u.id.clone())
    .bind(u.owner.clone())
    .bind(u.content_type.clone())
    .bind(u.size_bytes)
    .bind(u.digest_sm3.clone())
    .bind(u.file_name.clone())
    .bind(u.case_id.clone())
    .bind(format_time(u.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn upload_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<UploadRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, owner, content_type, size_bytes, digest_sm3, file_name, case_id, created_at \
         FROM uploads WHERE id = $1",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(upload_row).transpose()
}

/// The uploads with these ids, in one statement (any order; missing ones
/// are left out).
pub async fn uploads_by_ids(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<Vec<UploadRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, owner, content_type, size_bytes, digest_sm3, file_name, case_id, created_at \
         FROM uploads WHERE id IN ({})",
        placeholders.join(", ")
    )));
    for id in ids {
        query = query.bind((*id).to_owned());
    }
    query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(upload_row)
        .collect()
}

fn upload_row(row: &AnyRow) -> Result<UploadRow, StoreError> {
    Ok(UploadRow {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        content_type: row.try_get("content_type")?,
        size_bytes: row.try_get("size_bytes")?,
        digest_sm3: row.try_get("digest_sm3")?,
        file_name: row.try_get("file_name")?,
        case_id: row.try_get("case_id")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
    })
}

/// The registry person a case belongs to, if any.
pub async fn case_person(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT person_id FROM cases WHERE id = $1")
        .bind(case_id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row
        .map(|row| row.try_get::<Option<String>, _>("person_id"))
        .transpose()?
        .flatten())
}

/// Gives an unattached upload to a case; false if it was taken meanwhile.
pub async fn attach_upload(
    conn: &mut AnyConnection,
    upload_id: &str,
    case_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE uploads SET case_id = $1 WHERE id = $2 AND case_id IS NULL")
        .bind(case_id.to_owned())
        .bind(upload_id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub id: String,
    pub case_id: String,
    pub seq: i64,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub outcome: Option<String>,
    pub actor: String,
    pub actor_role: String,
    pub actor_name: String,
    pub occurred_at: DateTime<Utc>,
    pub opinion: Option<String>,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub next_due: Option<NaiveDate>,
}

/// A table of steps: the same columns but the owner's, which names the case
/// or the batch the step belongs to. [`StepRow::case_id`] holds the owner.
#[derive(Clone, Copy, Debug)]
pub struct StepTable {
    pub table: &'static str,
    /// The owner's column (`case_id`, `batch_id`).
    pub owner: &'static str,
}

/// The steps of cases.
pub const CASE_STEPS: StepTable = StepTable {
    table: "case_steps",
    owner: "case_id",
};

/// Appends a step; its `seq` is the next of the case.
pub async fn insert_step(conn: &mut AnyConnection, step: &StepRow) -> Result<i64, StoreError> {
    insert_step_in(conn, CASE_STEPS, step).await
}

/// The steps of a case, in order.
pub async fn steps_of(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<StepRow>, StoreError> {
    steps_in(conn, CASE_STEPS, case_id).await
}

/// Appends a step to `steps`; its `seq` is the next of its owner
/// (`step.case_id`).
pub async fn insert_step_in(
    conn: &mut AnyConnection,
    steps: StepTable,
    step: &StepRow,
) -> Result<i64, StoreError> {
    let StepTable { table, owner } = steps;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM {table} WHERE {owner} = $1"
    )))
    .bind(step.case_id.clone())
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = row.try_get("next")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (id, {owner}, seq, action, from_state, to_state, outcome, actor, \
         actor_role, actor_name, occurred_at, opinion, code, detail, next_due) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(step.id.clone())
    .bind(step.case_id.clone())
    .bind(seq)
    .bind(step.action.clone())
    .bind(step.from_state.clone())
    .bind(step.to_state.clone())
    .bind(step.outcome.clone())
    .bind(step.actor.clone())
    .bind(step.actor_role.clone())
    .bind(step.actor_name.clone())
    .bind(format_time(step.occurred_at))
    .bind(step.opinion.clone())
    .bind(step.code.clone())
    .bind(step.detail.clone())
    .bind(step.next_due.map(format_date))
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// The steps of one owner in `steps`, in order.
pub async fn steps_in(
    conn: &mut AnyConnection,
    steps: StepTable,
    owner_id: &str,
) -> Result<Vec<StepRow>, StoreError> {
    let StepTable { table, owner } = steps;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, {owner}, seq, action, from_state, to_state, outcome, actor, actor_role, \
         actor_name, occurred_at, opinion, code, detail, next_due FROM {table} \
         WHERE {owner} = $1 ORDER BY seq"
    )))
    .bind(owner_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StepRow {
                id: row.try_get("id")?,
                case_id: row.try_get(owner)?,
                seq: row.try_get("seq")?,
                action: row.try_get("action")?,
                from_state: row.try_get("from_state")?,
                to_state: row.try_get("to_state")?,
                outcome: row.try_get("outcome")?,
                actor: row.try_get("actor")?,
                actor_role: row.try_get("actor_role")?,
                actor_name: row.try_get("actor_name")?,
                occurred_at: parse_time(&row.try_get::<String, _>("occurred_at")?)?,
                opinion: row.try_get("opinion")?,
                code: row.try_get("code")?,
                detail: row.try_get("detail")?,
                next_due: opt_date(row, "next_due")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Idempotency keys
// ---------------------------------------------------------------------------

/// A stored key: the request's hash and what it created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub result_ref: String,
}

pub async fn idempotency_key(
    conn: &mut AnyConnection,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotencyRow>, StoreError> {
    let row = sqlx::query(
        "SELECT request_hash, result_ref FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
    )
    .bind(scope.to_owned())
    .bind(key.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(IdempotencyRow {
            request_hash: row.try_get("request_hash")?,
            result_ref: row.try_get("result_ref")?,
        })
    })
    .transpose()
}

pub async fn insert_idempotency_key(
    conn: &mut AnyConnection,
    scope: &str,
    key: &str,
    row: &IdempotencyRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, result_ref, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope.to_owned())
    .bind(key.to_owned())
    .bind(row.request_hash.clone())
    .bind(row.result_ref.clone())
    .bind(format_time(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
