//! Persons, cards and card events (migration `0003_registry.sql`).
//!
//! Every function takes a connection, so the same code reads inside a write
//! transaction (`&mut **tx`) or on a pooled connection
//! ([`super::Store::connection`]). Rows hold what the table holds: sealed and
//! masked personal data, never plaintext; sealing and opening is the service
//! layer's work.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::keys::SealedColumn;
use super::{StoreError, format_time, parse_time};

/// The sealed columns of the registry (listed in
/// [`super::keys::SEALED_COLUMNS`] for re-encryption); a value is sealed with
/// the associated data [`SealedColumn::aad`] of its row id.
pub const ID_NUMBER_SEALED: SealedColumn = SealedColumn {
    table: "persons",
    key: "id",
    column: "id_number_sealed",
};
pub const MOBILE_SEALED: SealedColumn = SealedColumn {
    table: "persons",
    key: "id",
    column: "mobile_sealed",
};
pub const ADDRESS_SEALED: SealedColumn = SealedColumn {
    table: "persons",
    key: "id",
    column: "address_sealed",
};
pub const BANK_ACCOUNT_SEALED: SealedColumn = SealedColumn {
    table: "cards",
    key: "id",
    column: "bank_account_sealed",
};

/// One person as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: String,
    /// HMAC-SM3 blind index of the canonical ID number.
    pub id_number_index: String,
    pub id_number_sealed: String,
    pub id_number_masked: String,
    pub name: String,
    /// `male` or `female`.
    pub sex: String,
    pub birth_date: NaiveDate,
    pub mobile_sealed: Option<String>,
    pub mobile_masked: Option<String>,
    pub address_sealed: Option<String>,
    pub address_masked: Option<String>,
    pub employer_uscc: Option<String>,
    pub enrolment_region: String,
    pub enrolment_status: String,
    pub enrolment_since: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRow")
            .field("id", &self.id)
            .field("id_number_masked", &self.id_number_masked)
            .finish_non_exhaustive()
    }
}

/// One card as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CardRow {
    pub id: String,
    pub card_number: String,
    pub card_identification_code: String,
    pub issuing_area_code: String,
    pub spec_version: String,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub person_id: String,
    pub bank_code: String,
    pub bank_account_sealed: Option<String>,
    pub bank_account_masked: Option<String>,
    pub social_state: String,
    pub financial_state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for CardRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRow")
            .field("id", &self.id)
            .field("social_state", &self.social_state)
            .field("financial_state", &self.financial_state)
            .finish_non_exhaustive()
    }
}

/// One state change of a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardEventRow {
    pub id: String,
    pub card_id: String,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    /// `social` or `financial`.
    pub application: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub event: String,
    pub reason: Option<String>,
    pub actor: String,
    pub actor_role: String,
}

/// A card event with the actor's account name, when the actor is an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardEventRecord {
    pub event: CardEventRow,
    /// The account's display name and username, for `account:<id>` actors.
    pub actor_account: Option<(String, String)>,
}

const PERSON_COLUMNS: &str = "id, id_number_index, id_number_sealed, id_number_masked, name, sex, \
     birth_date, mobile_sealed, mobile_masked, address_sealed, address_masked, employer_uscc, \
     enrolment_region, enrolment_status, enrolment_since, created_at, updated_at";

const CARD_COLUMNS: &str = "id, card_number, card_identification_code, issuing_area_code, \
     spec_version, issue_date, expiry_date, person_id, bank_code, bank_account_sealed, \
     bank_account_masked, social_state, financial_state, created_at, updated_at";

pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::Corrupt {
        what: format!("date `{text}`"),
        reason: e.to_string(),
    })
}

fn person_row(row: &AnyRow) -> Result<PersonRow, StoreError> {
    Ok(PersonRow {
        id: row.try_get("id")?,
        id_number_index: row.try_get("id_number_index")?,
        id_number_sealed: row.try_get("id_number_sealed")?,
        id_number_masked: row.try_get("id_number_masked")?,
        name: row.try_get("name")?,
        sex: row.try_get("sex")?,
        birth_date: parse_date(&row.try_get::<String, _>("birth_date")?)?,
        mobile_sealed: row.try_get("mobile_sealed")?,
        mobile_masked: row.try_get("mobile_masked")?,
        address_sealed: row.try_get("address_sealed")?,
        address_masked: row.try_get("address_masked")?,
        employer_uscc: row.try_get("employer_uscc")?,
        enrolment_region: row.try_get("enrolment_region")?,
        enrolment_status: row.try_get("enrolment_status")?,
        enrolment_since: parse_date(&row.try_get::<String, _>("enrolment_since")?)?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn card_row(row: &AnyRow) -> Result<CardRow, StoreError> {
    Ok(CardRow {
        id: row.try_get("id")?,
        card_number: row.try_get("card_number")?,
        card_identification_code: row.try_get("card_identification_code")?,
        issuing_area_code: row.try_get("issuing_area_code")?,
        spec_version: row.try_get("spec_version")?,
        issue_date: parse_date(&row.try_get::<String, _>("issue_date")?)?,
        expiry_date: parse_date(&row.try_get::<String, _>("expiry_date")?)?,
        person_id: row.try_get("person_id")?,
        bank_code: row.try_get("bank_code")?,
        bank_account_sealed: row.try_get("bank_account_sealed")?,
        bank_account_masked: row.try_get("bank_account_masked")?,
        social_state: row.try_get("social_state")?,
        financial_state: row.try_get("financial_state")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

// ---------------------------------------------------------------------------
// Persons
// ---------------------------------------------------------------------------

/// The person whose ID number has this blind index.
pub async fn person_by_index(
    conn: &mut AnyConnection,
    id_number_index: &str,
) -> Result<Option<PersonRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM persons WHERE id_number_index = $1"
    )))
    .bind(id_number_index.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| person_row(&row)).transpose()
}

pub async fn person_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<PersonRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM persons WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| person_row(&row)).transpose()
}

pub async fn insert_person(conn: &mut AnyConnection, person: &PersonRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO persons ({PERSON_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )))
    .bind(person.id.clone())
    .bind(person.id_number_index.clone())
    .bind(person.id_number_sealed.clone())
    .bind(person.id_number_masked.clone())
    .bind(person.name.clone())
    .bind(person.sex.clone())
    .bind(format_date(person.birth_date))
    .bind(person.mobile_sealed.clone())
    .bind(person.mobile_masked.clone())
    .bind(person.address_sealed.clone())
    .bind(person.address_masked.clone())
    .bind(person.employer_uscc.clone())
    .bind(person.enrolment_region.clone())
    .bind(person.enrolment_status.clone())
    .bind(format_date(person.enrolment_since))
    .bind(format_time(person.created_at))
    .bind(format_time(person.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rewrites everything but the id, the ID number columns and `created_at`.
pub async fn update_person(conn: &mut AnyConnection, person: &PersonRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE persons SET name = $1, mobile_sealed = $2, mobile_masked = $3, \
         address_sealed = $4, address_masked = $5, employer_uscc = $6, enrolment_region = $7, \
         enrolment_status = $8, enrolment_since = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(person.name.clone())
    .bind(person.mobile_sealed.clone())
    .bind(person.mobile_masked.clone())
    .bind(person.address_sealed.clone())
    .bind(person.address_masked.clone())
    .bind(person.employer_uscc.clone())
    .bind(person.enrolment_region.clone())
    .bind(person.enrolment_status.clone())
    .bind(format_date(person.enrolment_since))
    .bind(format_time(person.updated_at))
    .bind(person.id.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the person's row lock (PostgreSQL) for the rest of the transaction,
/// so two transactions giving the same person a card run one after the
/// other. SQLite write transactions are serialised anyway. Changes nothing;
/// it does not touch the key, so on PostgreSQL it does not block foreign-key
/// checks of other rows referring to the person.
pub async fn lock_person(conn: &mut AnyConnection, person_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE persons SET updated_at = updated_at WHERE id = $1")
        .bind(person_id.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Cards
// ---------------------------------------------------------------------------

pub async fn card_by_number(
    conn: &mut AnyConnection,
    card_number: &str,
) -> Result<Option<CardRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE card_number = $1"
    )))
    .bind(card_number.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| card_row(&row)).transpose()
}

pub async fn card_by_identification_code(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<CardRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE card_identification_code = $1"
    )))
    .bind(code.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| card_row(&row)).transpose()
}

/// Every card of a person, oldest first.
pub async fn cards_of_person(
    conn: &mut AnyConnection,
    person_id: &str,
) -> Result<Vec<CardRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE person_id = $1 ORDER BY created_at, card_number"
    )))
    .bind(person_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(card_row).collect()
}

pub async fn insert_card(conn: &mut AnyConnection, card: &CardRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cards ({CARD_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(card.id.clone())
    .bind(card.card_number.clone())
    .bind(card.card_identification_code.clone())
    .bind(card.issuing_area_code.clone())
    .bind(card.spec_version.clone())
    .bind(format_date(card.issue_date))
    .bind(format_date(card.expiry_date))
    .bind(card.person_id.clone())
    .bind(card.bank_code.clone())
    .bind(card.bank_account_sealed.clone())
    .bind(card.bank_account_masked.clone())
    .bind(card.social_state.clone())
    .bind(card.financial_state.clone())
    .bind(format_time(card.created_at))
    .bind(format_time(card.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rewrites the descriptive columns of a card (not its number, holder or
/// states: states change only through [`set_state`]).
pub async fn update_card_details(
    conn: &mut AnyConnection,
    card: &CardRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE cards SET card_identification_code = $1, issuing_area_code = $2, \
         spec_version = $3, issue_date = $4, expiry_date = $5, bank_code = $6, \
         bank_account_sealed = $7, bank_account_masked = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(card.card_identification_code.clone())
    .bind(card.issuing_area_code.clone())
    .bind(card.spec_version.clone())
    .bind(format_date(card.issue_date))
    .bind(format_date(card.expiry_date))
    .bind(card.bank_code.clone())
    .bind(card.bank_account_sealed.clone())
    .bind(card.bank_account_masked.clone())
    .bind(format_time(card.updated_at))
    .bind(card.id.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which state column [`set_state`] changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateColumn {
    Social,
    Financial,
}

/// Compare-and-set of one state: changes it from `from` to `to` only if it
/// still is `from`. Returns false when another transaction changed it first.
pub async fn set_state(
    conn: &mut AnyConnection,
    card_id: &str,
    column: StateColumn,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = match column {
        StateColumn::Social => {
            "UPDATE cards SET social_state = $1, updated_at = $2 WHERE id = $3 AND social_state = $4"
        }
        StateColumn::Financial => {
            "UPDATE cards SET financial_state = $1, updated_at = $2 \
             WHERE id = $3 AND financial_state = $4"
        }
    };
    let done = sqlx::query(sql)
        .bind(to.to_owned())
        .bind(format_time(now))
        .bind(card_id.to_owned())
        .bind(from.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Card events
// ---------------------------------------------------------------------------

/// The next sequence number of a card's history.
pub async fn next_event_seq(conn: &mut AnyConnection, card_id: &str) -> Result<i64, StoreError> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM card_events WHERE card_id = $1")
            .bind(card_id.to_owned())
            .fetch_one(&mut *conn)
            .await?;
    Ok(row.try_get::<i64, _>("next")?)
}

pub async fn insert_card_event(
    conn: &mut AnyConnection,
    event: &CardEventRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO card_events (id, card_id, seq, occurred_at, application, from_state, \
         to_state, event, reason, actor, actor_role) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.id.clone())
    .bind(event.card_id.clone())
    .bind(event.seq)
    .bind(format_time(event.occurred_at))
    .bind(event.application.clone())
    .bind(event.from_state.clone())
    .bind(event.to_state.clone())
    .bind(event.event.clone())
    .bind(event.reason.clone())
    .bind(event.actor.clone())
    .bind(event.actor_role.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A card's history in order, with the names of the accounts that acted.
pub async fn card_events(
    conn: &mut AnyConnection,
    card_id: &str,
) -> Result<Vec<CardEventRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.id, e.card_id, e.seq, e.occurred_at, e.application, e.from_state, e.to_state, \
         e.event, e.reason, e.actor, e.actor_role, a.display_name, a.username \
         FROM card_events e LEFT JOIN accounts a ON e.actor = 'account:' || a.id \
         WHERE e.card_id = $1 ORDER BY e.seq",
    )
    .bind(card_id.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let display_name: Option<String> = row.try_get("display_name")?;
            let username: Option<String> = row.try_get("username")?;
            Ok(CardEventRecord {
                event: CardEventRow {
                    id: row.try_get("id")?,
                    card_id: row.try_get("card_id")?,
                    seq: row.try_get("seq")?,
                    occurred_at: parse_time(&row.try_get::<String, _>("occurred_at")?)?,
                    application: row.try_get("application")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    event: row.try_get("event")?,
                    reason: row.try_get("reason")?,
                    actor: row.try_get("actor")?,
                    actor_role: row.try_get("actor_role")?,
                },
                actor_account: display_name.zip(username),
            })
        })
        .collect()
}
