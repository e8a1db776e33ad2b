//! What a case tells and hears back (migration `0009_feedback.sql`): its SMS
//! notices, the rating of an ended case and the follow-up of a bad one, the
//! express delivery status on the case row, and online consultations.
//!
//! Every function takes a connection, so the same code works inside a write
//! transaction (`&mut tx`) or on a pooled connection. Rows hold what the
//! tables hold: sealed free text, masked numbers, blind indexes.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::registry::{format_date, parse_date};
use super::{Backend, StoreError, format_time, parse_time};

/// A rating's comment, sealed.
pub const RATING_COMMENT_SEALED: SealedColumn = SealedColumn {
    table: "ratings",
    key: "id",
    column: "comment_sealed",
};

/// A consultation's question, sealed.
pub const QUESTION_SEALED: SealedColumn = SealedColumn {
    table: "consultations",
    key: "id",
    column: "question_sealed",
};

fn opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_time)
        .transpose()
}

fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_time(&row.try_get::<String, _>(column)?)
}

fn date(row: &AnyRow, column: &str) -> Result<NaiveDate, StoreError> {
    parse_date(&row.try_get::<String, _>(column)?)
}

// ---------------------------------------------------------------------------
// SMS notices of a case
// ---------------------------------------------------------------------------

/// One SMS notice of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRow {
    pub id: String,
    pub case_id: String,
    pub step_seq: i64,
    pub kind: String,
    pub mobile_masked: Option<String>,
    pub text: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

const NOTIFICATION_COLUMNS: &str = "id, case_id, step_seq, kind, mobile_masked, text, status, \
    attempts, last_error, created_at, sent_at";

fn notification_row(row: &AnyRow) -> Result<NotificationRow, StoreError> {
    Ok(NotificationRow {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        step_seq: row.try_get("step_seq")?,
        kind: row.try_get("kind")?,
        mobile_masked: row.try_get("mobile_masked")?,
        text: row.try_get("text")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
    })
}

pub async fn insert_notification(
    conn: &mut AnyConnection,
    n: &NotificationRow,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO case_notifications ({NOTIFICATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(n.id.clone())
    .bind(n.case_id.clone())
    .bind(n.step_seq)
    .bind(n.kind.clone())
    .bind(n.mobile_masked.clone())
    .bind(n.text.clone())
    .bind(n.status.clone())
    .bind(n.attempts)
    .bind(n.last_error.clone())
    .bind(format_time(n.created_at))
    .bind(n.sent_at.map(format_time))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The notices of a case, in the order of its timeline.
pub async fn notifications_of(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<NotificationRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM case_notifications WHERE case_id = $1 \
         ORDER BY step_seq, created_at, id"
    )))
    .bind(case_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(notification_row).collect()
}

pub async fn notification_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<NotificationRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM case_notifications WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| notification_row(&row)).transpose()
}

/// What makes a notice claimable by a sender at `$1` (now): unsent
/// (`pending`, `failed`), or `sending` by a sender whose lease has run out
/// (it stopped mid-send); and tried fewer than `$2` times.
const CLAIMABLE: &str = "(status IN ('pending', 'failed') OR (status = 'sending' AND lease_until < $1)) \
     AND attempts < $2";

/// Claims one notice for one send attempt — `id`, or with `None` the oldest
/// claimable notice created before `created_before` — in one statement:
/// status `sending`, the lease until `lease_until`, the attempt counted.
/// Gives the claimed row (its `attempts` is the claim's token for
/// [`mark_notification`]), or `None` when there is nothing to claim.
///
/// Run it in a short write transaction of its own (`Store::begin`) and
/// commit before sending: the row lock is held only for the claim, and the
/// lease keeps other senders off while the gateway is asked. On
/// PostgreSQL the oldest notice is chosen with `FOR UPDATE SKIP LOCKED`, so
/// nodes claiming at the same moment take different notices instead of
/// waiting for each other; on SQLite the write transaction (`BEGIN
/// IMMEDIATE`) serialises claims.
pub async fn claim_notification(
    conn: &mut AnyConnection,
    backend: Backend,
    id: Option<&str>,
    created_before: DateTime<Utc>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max_attempts: i64,
) -> Result<Option<NotificationRow>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let target = if id.is_some() {
        "$4".to_owned()
    } else {
        format!(
            "(SELECT id FROM case_notifications WHERE {CLAIMABLE} AND created_at < $4 \
             ORDER BY created_at LIMIT 1{lock})"
        )
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE case_notifications SET status = 'sending', lease_until = $3, \
         attempts = attempts + 1 \
         WHERE id = {target} AND {CLAIMABLE} RETURNING {NOTIFICATION_COLUMNS}"
    )))
    .bind(format_time(now))
    .bind(max_attempts)
    .bind(format_time(lease_until))
    .bind(id.map_or_else(|| format_time(created_before), str::to_owned))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| notification_row(&row)).transpose()
}

/// Gives up on notices whose sender stopped mid-send on their last allowed
/// attempt (lease run out, `max_attempts` reached): they become `failed`,
/// like a refused last attempt. Gives how many.
pub async fn fail_abandoned_notifications(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    max_attempts: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE case_notifications SET status = 'failed', lease_until = NULL, \
         last_error = 'the sender stopped before the outcome was known' \
         WHERE status = 'sending' AND lease_until < $1 AND attempts >= $2",
    )
    .bind(format_time(now))
    .bind(max_attempts)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Records the outcome of the send attempt that claimed the notice with
/// `attempts` and clears the lease. False (and nothing written) when the
/// claim is no longer this sender's: its lease ran out and another sender
/// claimed the notice again.
pub async fn mark_notification(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i64,
    status: &str,
    last_error: Option<&str>,
    sent_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE case_notifications SET status = $1, last_error = $2, sent_at = $3, \
         lease_until = NULL WHERE id = $4 AND status = 'sending' AND attempts = $5",
    )
    .bind(status.to_owned())
    .bind(last_error.map(str::to_owned))
    .bind(sent_at.map(format_time))
    .bind(id.to_owned())
    .bind(attempts)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// The delivery record of a case (express status)
// ---------------------------------------------------------------------------

/// Compare-and-set of a case's delivery record: replaces it only if the
/// case is still at `expected_version`; false when another change won.
pub async fn update_delivery_detail(
    conn: &mut AnyConnection,
    case_id: &str,
    expected_version: i64,
    delivery_detail: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE cases SET delivery_detail = $1, updated_at = $2, version = version + 1 \
         WHERE id = $3 AND version = $4",
    )
    .bind(delivery_detail.to_owned())
    .bind(format_time(now))
    .bind(case_id.to_owned())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Ratings
// ---------------------------------------------------------------------------

/// One rating as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RatingRow {
    pub id: String,
    pub case_id: String,
    pub application_no: String,
    pub level: String,
    pub comment_sealed: Option<String>,
    pub channel: String,
    pub rated_by: String,
    pub rated_by_name: String,
    pub rated_at: DateTime<Utc>,
    pub rated_on: NaiveDate,
}

impl std::fmt::Debug for RatingRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RatingRow")
            .field("application_no", &self.application_no)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

const RATING_COLUMNS: &str = "id, case_id, application_no, level, comment_sealed, channel, \
    rated_by, rated_by_name, rated_at, rated_on";

fn rating_row(row: &AnyRow) -> Result<RatingRow, StoreError> {
    Ok(RatingRow {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        application_no: row.try_get("application_no")?,
        level: row.try_get("level")?,
        comment_sealed: row.try_get("comment_sealed")?,
        channel: row.try_get("channel")?,
        rated_by: row.try_get("rated_by")?,
        rated_by_name: row.try_get("rated_by_name")?,
        rated_at: time(row, "rated_at")?,
        rated_on: date(row, "rated_on")?,
    })
}

pub async fn insert_rating(conn: &mut AnyConnection, r: &RatingRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO ratings ({RATING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )))
    .bind(r.id.clone())
    .bind(r.case_id.clone())
    .bind(r.application_no.clone())
    .bind(r.level.clone())
    .bind(r.comment_sealed.clone())
    .bind(r.channel.clone())
    .bind(r.rated_by.clone())
    .bind(r.rated_by_name.clone())
    .bind(format_time(r.rated_at))
    .bind(format_date(r.rated_on))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn rating_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<RatingRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RATING_COLUMNS} FROM ratings WHERE case_id = $1"
    )))
    .bind(case_id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| rating_row(&row)).transpose()
}

/// Ratings given from `from` (inclusive) until `until` (exclusive), newest
/// first, at most `limit`.
pub async fn ratings_between(
    conn: &mut AnyConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RatingRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RATING_COLUMNS} FROM ratings WHERE rated_at >= $1 AND rated_at < $2 \
         ORDER BY rated_at DESC, id LIMIT $3"
    )))
    .bind(format_time(from))
    .bind(format_time(until))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(rating_row).collect()
}

/// How many ratings of each level were given in the period.
pub async fn count_ratings_by_level(
    conn: &mut AnyConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT level, COUNT(*) AS n FROM ratings WHERE rated_at >= $1 AND rated_at < $2 \
         GROUP BY level ORDER BY level",
    )
    .bind(format_time(from))
    .bind(format_time(until))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("level")?, row.try_get("n")?)))
        .collect()
}

// ---------------------------------------------------------------------------
// Follow-ups
// ---------------------------------------------------------------------------

/// One follow-up as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUpRow {
    pub id: String,
    pub rating_id: String,
    pub case_id: String,
    pub application_no: String,
    pub level: String,
    pub status: String,
    pub working_days: i64,
    pub due_on: NaiveDate,
    pub due_provisional: bool,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const FOLLOW_UP_COLUMNS: &str = "id, rating_id, case_id, application_no, level, status, \
    working_days, due_on, due_provisional, opened_at, closed_at, version";

fn follow_up_row(row: &AnyRow) -> Result<FollowUpRow, StoreError> {
    Ok(FollowUpRow {
        id: row.try_get("id")?,
        rating_id: row.try_get("rating_id")?,
        case_id: row.try_get("case_id")?,
        application_no: row.try_get("application_no")?,
        level: row.try_get("level")?,
        status: row.try_get("status")?,
        working_days: row.try_get("working_days")?,
        due_on: date(row, "due_on")?,
        due_provisional: row.try_get::<i64, _>("due_provisional")? != 0,
        opened_at: time(row, "opened_at")?,
        closed_at: opt_time(row, "closed_at")?,
        version: row.try_get("version")?,
    })
}

pub async fn insert_follow_up(conn: &mut AnyConnection, f: &FollowUpRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO follow_ups ({FOLLOW_UP_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )))
    .bind(f.id.clone())
    .bind(f.rating_id.clone())
    .bind(f.case_id.clone())
    .bind(f.application_no.clone())
    .bind(f.level.clone())
    .bind(f.status.clone())
    .bind(f.working_days)
    .bind(format_date(f.due_on))
    .bind(i64::from(f.due_provisional))
    .bind(format_time(f.opened_at))
    .bind(f.closed_at.map(format_time))
    .bind(f.version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn follow_up_by_number(
    conn: &mut AnyConnection,
    application_no: &str,
) -> Result<Option<FollowUpRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE application_no = $1"
    )))
    .bind(application_no.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| follow_up_row(&row)).transpose()
}

/// Follow-ups in `statuses` (every status when empty), the earliest due
/// first, at most `limit`.
pub async fn list_follow_ups(
    conn: &mut AnyConnection,
    statuses: &[&str],
    limit: i64,
) -> Result<Vec<FollowUpRow>, StoreError> {
    let mut sql = format!("SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups");
    if !statuses.is_empty() {
        let marks: Vec<String> = (1..=statuses.len()).map(|i| format!("${i}")).collect();
        sql.push_str(&format!(" WHERE status IN ({})", marks.join(", ")));
    }
    sql.push_str(&format!(
        " ORDER BY due_on, opened_at LIMIT {}",
        limit.clamp(1, 1000)
    ));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for status in statuses {
        query = query.bind((*status).to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(follow_up_row).collect()
}

/// Compare-and-set of a follow-up's status.
pub async fn update_follow_up(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: i64,
    status: &str,
    closed_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE follow_ups SET status = $1, closed_at = $2, version = version + 1 \
         WHERE id = $3 AND version = $4",
    )
    .bind(status.to_owned())
    .bind(closed_at.map(format_time))
    .bind(id.to_owned())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One record on a follow-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUpRecordRow {
    pub id: String,
    pub follow_up_id: String,
    pub seq: i64,
    pub step: String,
    pub note: Option<String>,
    pub result: Option<String>,
    pub actor: String,
    pub actor_name: String,
    pub occurred_at: DateTime<Utc>,
}

/// Appends a record; its `seq` is the next of the follow-up.
pub async fn insert_follow_up_record(
    conn: &mut AnyConnection,
    r: &FollowUpRecordRow,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM follow_up_records WHERE follow_up_id = $1",
    )
    .bind(r.follow_up_id.clone())
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = row.try_get("next")?;
    sqlx::query(
        "INSERT INTO follow_up_records (id, follow_up_id, seq, step, note, result, actor, \
         actor_name, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.id.clone())
    .bind(r.follow_up_id.clone())
    .bind(seq)
    .bind(r.step.clone())
    .bind(r.note.clone())
    .bind(r.result.clone())
    .bind(r.actor.clone())
    .bind(r.actor_name.clone())
    .bind(format_time(r.occurred_at))
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

pub async fn follow_up_records(
    conn: &mut AnyConnection,
    follow_up_id: &str,
) -> Result<Vec<FollowUpRecordRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, follow_up_id, seq, step, note, result, actor, actor_name, occurred_at \
         FROM follow_up_records WHERE follow_up_id = $1 ORDER BY seq",
    )
    .bind(follow_up_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(FollowUpRecordRow {
                id: row.try_get("id")?,
                follow_up_id: row.try_get("follow_up_id")?,
                seq: row.try_get("seq")?,
                step: row.try_get("step")?,
                note: row.try_get("note")?,
                result: row.try_get("result")?,
                actor: row.try_get("actor")?,
                actor_name: row.try_get("actor_name")?,
                occurred_at: time(row, "occurred_at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Consultations
// ---------------------------------------------------------------------------

/// One consultation as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsultationRow {
    pub id: String,
    pub consultation_no: String,
    pub item_code: String,
    pub person_id: Option<String>,
    pub access_code_index: Option<String>,
    pub question_sealed: String,
    pub asked_at: DateTime<Utc>,
    pub status: String,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_by_name: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl std::fmt::Debug for ConsultationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsultationRow")
            .field("consultation_no", &self.consultation_no)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const CONSULTATION_COLUMNS: &str = "id, consultation_no, item_code, person_id, \
    access_code_index, question_sealed, asked_at, status, answer, answered_by, \
    answered_by_name, answered_at, version";

fn consultation_row(row: &AnyRow) -> Result<ConsultationRow, StoreError> {
    Ok(ConsultationRow {
        id: row.try_get("id")?,
        consultation_no: row.try_get("consultation_no")?,
        item_code: row.try_get("item_code")?,
        person_id: row.try_get("person_id")?,
        access_code_index: row.try_get("access_code_index")?,
        question_sealed: row.try_get("question_sealed")?,
        asked_at: time(row, "asked_at")?,
        status: row.try_get("status")?,
        answer: row.try_get("answer")?,
        answered_by: row.try_get("answered_by")?,
        answered_by_name: row.try_get("answered_by_name")?,
        answered_at: opt_time(row, "answered_at")?,
        version: row.try_get("version")?,
    })
}

/// The next consultation number's sequence for `day` (YYYYMMDD), counted in
/// the caller's transaction.
pub async fn next_consultation_seq(conn: &mut AnyConnection, day: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO consultation_counters (day, last) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET last = consultation_counters.last + 1 RETURNING last",
    )
    .bind(day.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("last")?)
}

pub async fn insert_consultation(
    conn: &mut AnyConnection,
    c: &ConsultationRow,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO consultations ({CONSULTATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )))
    .bind(c.id.clone())
    .bind(c.consultation_no.clone())
    .bind(c.item_code.clone())
    .bind(c.person_id.clone())
    .bind(c.access_code_index.clone())
    .bind(c.question_sealed.clone())
    .bind(format_time(c.asked_at))
    .bind(c.status.clone())
    .bind(c.answer.clone())
    .bind(c.answered_by.clone())
    .bind(c.answered_by_name.clone())
    .bind(c.answered_at.map(format_time))
    .bind(c.version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn consultation_by_number(
    conn: &mut AnyConnection,
    consultation_no: &str,
) -> Result<Option<ConsultationRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONSULTATION_COLUMNS} FROM consultations WHERE consultation_no = $1"
    )))
    .bind(consultation_no.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| consultation_row(&row)).transpose()
}

/// Consultations in `status` (any when `None`), oldest first for the open
/// queue and newest first otherwise, at most `limit`.
pub async fn list_consultations(
    conn: &mut AnyConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<ConsultationRow>, StoreError> {
    let limit = limit.clamp(1, 1000);
    let rows = match status {
        Some(status) => {
            let order = if status == "open" { "ASC" } else { "DESC" };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONSULTATION_COLUMNS} FROM consultations WHERE status = $1 \
                 ORDER BY asked_at {order} LIMIT {limit}"
            )))
            .bind(status.to_owned())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONSULTATION_COLUMNS} FROM consultations \
                 ORDER BY asked_at DESC LIMIT {limit}"
            )))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter().map(consultation_row).collect()
}

/// A person's own consultations, newest first.
pub async fn consultations_of_person(
    conn: &mut AnyConnection,
    person_id: &str,
    limit: i64,
) -> Result<Vec<ConsultationRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONSULTATION_COLUMNS} FROM consultations WHERE person_id = $1 \
         ORDER BY asked_at DESC LIMIT {}",
        limit.clamp(1, 1000)
    )))
    .bind(person_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(consultation_row).collect()
}

/// How many consultations wait for an answer.
pub async fn count_open_consultations(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM consultations WHERE status = 'open'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// Compare-and-set: records the answer if the consultation is still at
/// `expected_version` and open.
pub async fn answer_consultation(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: i64,
    answer: &str,
    answered_by: &str,
    answered_by_name: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE consultations SET status = 'answered', answer = $1, answered_by = $2, \
         answered_by_name = $3, answered_at = $4, version = version + 1 \
         WHERE id = $5 AND version = $6 AND status = 'open'",
    )
    .bind(answer.to_owned())
    .bind(answered_by.to_owned())
    .bind(answered_by_name.to_owned())
    .bind(format_time(now))
    .bind(id.to_owned())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
