//! Citizens' one-time codes, sessions and per-address attempts, and the
//! simulated SMS gateway's outbox (migration `0006_citizens.sql`).
//!
//! Every function takes a connection, so the same code works inside a write
//! transaction (`&mut tx`) or on a pooled connection. Rows hold what the
//! tables hold: code hashes, token hashes and sealed values, never a code,
//! a token or a number in clear.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::{StoreError, format_time, parse_time};

/// Where the outbox seals the number.
pub const OUTBOX_MOBILE_COLUMN: SealedColumn = SealedColumn {
    table: "sms_outbox",
    key: "id",
    column: "mobile_sealed",
};
/// Where the outbox seals the text.
pub const OUTBOX_TEXT_COLUMN: SealedColumn = SealedColumn {
    table: "sms_outbox",
    key: "id",
    column: "text_sealed",
};

/// One one-time code as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpRow {
    pub id: String,
    pub person_id: String,
    /// Blind index of `<person id>:<code id>:<code>` (purpose `citizen.otp`).
    pub code_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub attempts: i64,
    pub used_at: Option<DateTime<Utc>>,
    pub client_address: String,
}

/// One citizen session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CitizenSessionRow {
    pub token_hash: String,
    pub person_id: String,
    pub client_address: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a citizen session's person is shown as (its name and masked ID
/// number; the person's id is the session's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPerson {
    pub name: String,
    pub id_number_masked: String,
}

/// One message of the simulated SMS gateway's outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub mobile_masked: String,
    pub mobile_sealed: String,
    pub text_sealed: String,
}

impl std::fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("mobile_masked", &self.mobile_masked)
            .finish_non_exhaustive()
    }
}

/// What a per-address counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    /// A request for a one-time code, whoever it named.
    OtpRequest,
    /// A citizen sign-in that did not succeed.
    SignInFailure,
}

impl AttemptKind {
    fn code(self) -> &'static str {
        match self {
            Self::OtpRequest => "otp_request",
            Self::SignInFailure => "sign_in_failure",
        }
    }
}

/// How long per-address attempt rows are kept.
const ATTEMPT_RETENTION: chrono::Duration = chrono::Duration::days(1);

// ---------------------------------------------------------------------------
// Per-address attempts
// ---------------------------------------------------------------------------

/// Counts an attempt from `client_address` and prunes that address's rows
/// older than a day.
pub async fn record_attempt(
    conn: &mut AnyConnection,
    client_address: &str,
    kind: AttemptKind,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM citizen_attempts WHERE client_address = $1 AND kind = $2 AND occurred_at < $3",
    )
    .bind(client_address.to_owned())
    .bind(kind.code())
    .bind(format_time(now - ATTEMPT_RETENTION))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO citizen_attempts (client_address, kind, occurred_at) VALUES ($1, $2, $3)",
    )
    .bind(client_address.to_owned())
    .bind(kind.code())
    .bind(format_time(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Attempts of `kind` from `client_address` since `since`, and the earliest
/// of them (when the window frees a place again).
pub async fn attempts_since(
    conn: &mut AnyConnection,
    client_address: &str,
    kind: AttemptKind,
    since: DateTime<Utc>,
) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS attempts, MIN(occurred_at) AS earliest FROM citizen_attempts \
         WHERE client_address = $1 AND kind = $2 AND occurred_at >= $3",
    )
    .bind(client_address.to_owned())
    .bind(kind.code())
    .bind(format_time(since))
    .fetch_one(&mut *conn)
    .await?;
    let attempts: i64 = row.try_get("attempts")?;
    let earliest: Option<String> = row.try_get("earliest")?;
    Ok((
        u32::try_from(attempts).unwrap_or(u32::MAX),
        earliest.as_deref().map(parse_time).transpose()?,
    ))
}

// ---------------------------------------------------------------------------
// One-time codes
// ---------------------------------------------------------------------------

const OTP_COLUMNS: &str =
    "id, person_id, code_hash, created_at, expires_at, attempts, used_at, client_address";

fn otp_row(row: &AnyRow) -> Result<OtpRow, StoreError> {
    Ok(OtpRow {
        id: row.try_get("id")?,
        person_id: row.try_get("person_id")?,
        code_hash: row.try_get("code_hash")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
        attempts: row.try_get("attempts")?,
        used_at: row
            .try_get::<Option<String>, _>("used_at")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
        client_address: row.try_get("client_address")?,
    })
}

/// When the person's codes since `since` were issued, newest first.
pub async fn codes_issued_since(
    conn: &mut AnyConnection,
    person_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let rows = sqlx::query(
        "SELECT created_at FROM otp_codes WHERE person_id = $1 AND created_at >= $2 \
         ORDER BY created_at DESC",
    )
    .bind(person_id.to_owned())
    .bind(format_time(since))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| parse_time(&row.try_get::<String, _>("created_at")?))
        .collect()
}

/// Stores a new code and prunes the person's codes issued before `prune_before`.
pub async fn insert_code(
    conn: &mut AnyConnection,
    code: &OtpRow,
    prune_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM otp_codes WHERE person_id = $1 AND created_at < $2")
        .bind(code.person_id.clone())
        .bind(format_time(prune_before))
        .execute(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO otp_codes ({OTP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(code.id.clone())
    .bind(code.person_id.clone())
    .bind(code.code_hash.clone())
    .bind(format_time(code.created_at))
    .bind(format_time(code.expires_at))
    .bind(code.attempts)
    .bind(code.used_at.map(format_time))
    .bind(code.client_address.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The person's newest code, the only one that can still sign in.
pub async fn latest_code(
    conn: &mut AnyConnection,
    person_id: &str,
) -> Result<Option<OtpRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {OTP_COLUMNS} FROM otp_codes WHERE person_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(person_id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| otp_row(&row)).transpose()
}

/// Spends one try of a live code (unused, unexpired, fewer than
/// `max_attempts` tries): gives the number of tries now spent, or `None`
/// when the code is no longer live. The update takes the row lock on
/// PostgreSQL, so concurrent tries of one code run one after the other and
/// none is compared without having been counted first.
pub async fn spend_attempt(
    conn: &mut AnyConnection,
    code_id: &str,
    max_attempts: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "UPDATE otp_codes SET attempts = attempts + 1 \
         WHERE id = $1 AND used_at IS NULL AND attempts < $2 AND expires_at > $3 \
         RETURNING attempts",
    )
    .bind(code_id.to_owned())
    .bind(max_attempts)
    .bind(format_time(now))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| row.try_get::<i64, _>("attempts"))
        .transpose()
        .map_err(StoreError::from)
}

/// Marks a code used; false if it already was.
pub async fn mark_code_used(
    conn: &mut AnyConnection,
    code_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = sqlx::query("UPDATE otp_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(format_time(now))
        .bind(code_id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes a code that never reached its holder.
pub async fn delete_code(conn: &mut AnyConnection, code_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM otp_codes WHERE id = $1")
        .bind(code_id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Citizen sessions
// ---------------------------------------------------------------------------

pub async fn insert_citizen_session(
    conn: &mut AnyConnection,
    session: &CitizenSessionRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO citizen_sessions (token_hash, person_id, client_address, created_at, \
         last_seen_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(session.token_hash.clone())
    .bind(session.person_id.clone())
    .bind(session.client_address.clone())
    .bind(format_time(session.created_at))
    .bind(format_time(session.last_seen_at))
    .bind(format_time(session.expires_at))
    .bind(session.revoked_at.map(format_time))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A citizen session with what the signed-in citizen is shown of the person
/// (name and masked ID number), in one statement. `None` when there is no
/// such session or its person is gone.
pub async fn citizen_session_with_person(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(CitizenSessionRow, SessionPerson)>, StoreError> {
    // Every column aliased: both tables have created_at.
    let row = sqlx::query(
        "SELECT s.token_hash AS s_token_hash, s.person_id AS s_person_id, \
         s.client_address AS s_client_address, s.created_at AS s_created_at, \
         s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, \
         s.revoked_at AS s_revoked_at, p.name AS p_name, \
         p.id_number_masked AS p_id_number_masked \
         FROM citizen_sessions s JOIN persons p ON p.id = s.person_id \
         WHERE s.token_hash = $1",
    )
    .bind(token_hash.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let session = CitizenSessionRow {
        token_hash: row.try_get("s_token_hash")?,
        person_id: row.try_get("s_person_id")?,
        client_address: row.try_get("s_client_address")?,
        created_at: parse_time(&row.try_get::<String, _>("s_created_at")?)?,
        last_seen_at: parse_time(&row.try_get::<String, _>("s_last_seen_at")?)?,
        expires_at: parse_time(&row.try_get::<String, _>("s_expires_at")?)?,
        revoked_at: row
            .try_get::<Option<String>, _>("s_revoked_at")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
    };
    let person = SessionPerson {
        name: row.try_get("p_name")?,
        id_number_masked: row.try_get("p_id_number_masked")?,
    };
    Ok(Some((session, person)))
}

/// Restarts a session's idle timer.
pub async fn touch_citizen_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE citizen_sessions SET last_seen_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(format_time(now))
    .bind(token_hash.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends a session; false if it had already ended.
pub async fn revoke_citizen_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE citizen_sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(format_time(now))
    .bind(token_hash.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// The simulated SMS gateway's outbox
// ---------------------------------------------------------------------------

/// Adds a message and prunes the messages created before `prune_before`.
pub async fn insert_outbox(
    conn: &mut AnyConnection,
    message: &OutboxRow,
    prune_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sms_outbox WHERE created_at < $1")
        .bind(format_time(prune_before))
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sms_outbox (id, created_at, mobile_masked, mobile_sealed, text_sealed) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(message.id.clone())
    .bind(format_time(message.created_at))
    .bind(message.mobile_masked.clone())
    .bind(message.mobile_sealed.clone())
    .bind(message.text_sealed.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The newest messages created since `since`, newest first.
pub async fn recent_outbox(
    conn: &mut AnyConnection,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, created_at, mobile_masked, mobile_sealed, text_sealed FROM sms_outbox \
         WHERE created_at >= $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(format_time(since))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(OutboxRow {
                id: row.try_get("id")?,
                created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
                mobile_masked: row.try_get("mobile_masked")?,
                mobile_sealed: row.try_get("mobile_sealed")?,
                text_sealed: row.try_get("text_sealed")?,
            })
        })
        .collect()
}
