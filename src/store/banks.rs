//! Cooperating banks, the replay store of signed requests, the bureau's
//! answer-signing keys and the batch exchange with the banks (migration
//! `0010_banks.sql`). Rows hold sealed keys and masked or indexed data only;
//! sealing and opening is the service layer's work.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::registry::parse_date;
use super::signing_keys::KeyTable;
use super::{StoreError, format_time, parse_time};

/// The bureau's answer-signing keys (see [`super::signing_keys`]).
pub const SIGNING_KEYS: KeyTable = KeyTable::new("bank_keys");

// ---------------------------------------------------------------------------
// Banks
// ---------------------------------------------------------------------------

/// One cooperating bank as stored, with its BINs (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankRow {
    pub code: String,
    pub name: String,
    pub contact_name: String,
    pub contact_phone: String,
    /// SPKI PEM of the SM2 key that verifies the bank system's requests.
    pub api_public_key: Option<String>,
    pub api_key_id: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    pub bins: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const BANK_COLUMNS: &str = "code, name, contact_name, contact_phone, api_public_key, api_key_id, \
     status, created_at, updated_at";

fn bank_row(row: &AnyRow) -> Result<BankRow, StoreError> {
    Ok(BankRow {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        contact_name: row.try_get("contact_name")?,
        contact_phone: row.try_get("contact_phone")?,
        api_public_key: row.try_get("api_public_key")?,
        api_key_id: row.try_get("api_key_id")?,
        status: row.try_get("status")?,
        bins: Vec::new(),
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

/// Every bank with its BINs, by code.
pub async fn banks(conn: &mut AnyConnection) -> Result<Vec<BankRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BANK_COLUMNS} FROM banks ORDER BY code"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut banks: Vec<BankRow> = rows.iter().map(bank_row).collect::<Result<_, _>>()?;
    for (bank, bin) in all_bins(conn).await? {
        if let Some(row) = banks.iter_mut().find(|row| row.code == bank) {
            row.bins.push(bin);
        }
    }
    Ok(banks)
}

pub async fn bank(conn: &mut AnyConnection, code: &str) -> Result<Option<BankRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BANK_COLUMNS} FROM banks WHERE code = $1"
    )))
    .bind(code.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut bank = bank_row(&row)?;
    bank.bins = sqlx::query_scalar::<_, String>(
        "SELECT bin FROM bank_bins WHERE bank_code = $1 ORDER BY bin",
    )
    .bind(code.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(bank))
}

/// Every (bank, BIN), by BIN.
pub async fn all_bins(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as::<_, (String, String)>("SELECT bank_code, bin FROM bank_bins ORDER BY bin")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Serialises changes of the bank registry (the BIN overlap check reads
/// every bank's BINs): one settings row, written by every change, holds the
/// lock on PostgreSQL until commit; SQLite serialises writers anyway.
pub async fn lock_registry(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ('bank_registry_lock', '0') \
         ON CONFLICT (name) DO UPDATE SET value = settings.value",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a bank, or rewrites every column but the code and `created_at`;
/// its BINs are replaced.
pub async fn save_bank(conn: &mut AnyConnection, bank: &BankRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO banks ({BANK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, \
         contact_name = excluded.contact_name, contact_phone = excluded.contact_phone, \
         api_public_key = excluded.api_public_key, api_key_id = excluded.api_key_id, \
         status = excluded.status, updated_at = excluded.updated_at"
    )))
    .bind(bank.code.clone())
    .bind(bank.name.clone())
    .bind(bank.contact_name.clone())
    .bind(bank.contact_phone.clone())
    .bind(bank.api_public_key.clone())
    .bind(bank.api_key_id.clone())
    .bind(bank.status.clone())
    .bind(format_time(bank.created_at))
    .bind(format_time(bank.updated_at))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM bank_bins WHERE bank_code = $1")
        .bind(bank.code.clone())
        .execute(&mut *conn)
        .await?;
    for bin in &bank.bins {
        sqlx::query("INSERT INTO bank_bins (bin, bank_code) VALUES ($1, $2)")
            .bind(bin.clone())
            .bind(bank.code.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Nonces of signed requests
// ---------------------------------------------------------------------------

/// Records a request's nonce; false when the bank used it before (a replay).
pub async fn record_nonce(
    conn: &mut AnyConnection,
    bank_code: &str,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO bank_nonces (bank_code, nonce, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(bank_code.to_owned())
    .bind(nonce.to_owned())
    .bind(format_time(expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the nonces whose requests can no longer be replayed.
pub async fn prune_nonces(conn: &mut AnyConnection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM bank_nonces WHERE expires_at < $1")
        .bind(format_time(now))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

// ---------------------------------------------------------------------------
// Cards, for the counter and the bank system
// ---------------------------------------------------------------------------

/// Takes the card's row lock (PostgreSQL) for the rest of the transaction,
/// as the case actions do, so concurrent activations of one card run one
/// after the other; false when there is no such card.
pub async fn lock_card(conn: &mut AnyConnection, card_number: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE cards SET updated_at = updated_at WHERE card_number = $1")
        .bind(card_number.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// A batch file as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRow {
    pub id: String,
    pub batch_no: String,
    pub bank_code: String,
    /// `export` or `return`.
    pub kind: String,
    /// export: `claiming`, `claimed`, `written`; return: `applying`, `applied`.
    pub state: String,
    pub record_count: i64,
    pub body_sm3: Option<String>,
    pub answers_batch: Option<String>,
    pub accepted: i64,
    pub rejected: i64,
    pub refused: i64,
    pub sends: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub completed_at: Option<DateTime<Utc>>,
}

const BATCH_COLUMNS: &str = "id, batch_no, bank_code, kind, state, record_count, body_sm3, \
     answers_batch, accepted, rejected, refused, sends, created_at, created_by, completed_at";

fn batch_row(row: &AnyRow) -> Result<BatchRow, StoreError> {
    Ok(BatchRow {
        id: row.try_get("id")?,
        batch_no: row.try_get("batch_no")?,
        bank_code: row.try_get("bank_code")?,
        kind: row.try_get("kind")?,
        state: row.try_get("state")?,
        record_count: row.try_get("record_count")?,
        body_sm3: row.try_get("body_sm3")?,
        answers_batch: row.try_get("answers_batch")?,
        accepted: row.try_get("accepted")?,
        rejected: row.try_get("rejected")?,
        refused: row.try_get("refused")?,
        sends: row.try_get("sends")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
        completed_at: row
            .try_get::<Option<String>, _>("completed_at")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
    })
}

pub async fn insert_batch(conn: &mut AnyConnection, batch: &BatchRow) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO bank_batches ({BATCH_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(batch.id.clone())
    .bind(batch.batch_no.clone())
    .bind(batch.bank_code.clone())
    .bind(batch.kind.clone())
    .bind(batch.state.clone())
    .bind(batch.record_count)
    .bind(batch.body_sm3.clone())
    .bind(batch.answers_batch.clone())
    .bind(batch.accepted)
    .bind(batch.rejected)
    .bind(batch.refused)
    .bind(batch.sends)
    .bind(format_time(batch.created_at))
    .bind(batch.created_by.clone())
    .bind(batch.completed_at.map(format_time))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rewrites the mutable columns of a batch.
pub async fn update_batch(conn: &mut AnyConnection, batch: &BatchRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE bank_batches SET state = $1, record_count = $2, body_sm3 = $3, accepted = $4, \
         rejected = $5, refused = $6, sends = $7, completed_at = $8 WHERE id = $9",
    )
    .bind(batch.state.clone())
    .bind(batch.record_count)
    .bind(batch.body_sm3.clone())
    .bind(batch.accepted)
    .bind(batch.rejected)
    .bind(batch.refused)
    .bind(batch.sends)
    .bind(batch.completed_at.map(format_time))
    .bind(batch.id.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn batch_by_no(
    conn: &mut AnyConnection,
    bank_code: &str,
    kind: &str,
    batch_no: &str,
) -> Result<Option<BatchRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM bank_batches WHERE bank_code = $1 AND kind = $2 AND batch_no = $3"
    )))
    .bind(bank_code.to_owned())
    .bind(kind.to_owned())
    .bind(batch_no.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| batch_row(&row)).transpose()
}

/// An export batch of `bank_code` not written completely yet, if any.
pub async fn unfinished_export(
    conn: &mut AnyConnection,
    bank_code: &str,
) -> Result<Option<BatchRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM bank_batches WHERE bank_code = $1 AND kind = 'export' \
         AND state <> 'written' ORDER BY created_at LIMIT 1"
    )))
    .bind(bank_code.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| batch_row(&row)).transpose()
}

/// The batches of a bank (or of every bank), newest first.
pub async fn recent_batches(
    conn: &mut AnyConnection,
    bank_code: &str,
    limit: i64,
) -> Result<Vec<BatchRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH_COLUMNS} FROM bank_batches WHERE bank_code = $1 \
         ORDER BY created_at DESC LIMIT $2"
    )))
    .bind(bank_code.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(batch_row).collect()
}

/// How many export batches of `bank_code` have numbers starting with `prefix`.
pub async fn count_batches_with_prefix(
    conn: &mut AnyConnection,
    bank_code: &str,
    prefix: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM bank_batches WHERE bank_code = $1 AND kind = 'export' \
         AND SUBSTR(batch_no, 1, LENGTH($2)) = $2",
    )
    .bind(bank_code.to_owned())
    .bind(prefix.to_owned())
    .fetch_one(&mut *conn)
    .await?)
}

/// The condition on `c` (a card) of awaiting export: no account yet, not
/// cancelled, financial application not activated, and either in no export
/// batch or re-queued by staff after the bank rejected it (重新报送).
const AWAITING_EXPORT: &str = "c.bank_account_sealed IS NULL \
     AND c.social_state <> 'cancelled' AND c.financial_state = 'not_activated' \
     AND NOT EXISTS (SELECT 1 FROM bank_card_exchange x WHERE x.card_id = c.id \
                     AND x.status <> 'requeued')";

/// Adds up to `limit` cards of `bank_code` that await export (see
/// [`AWAITING_EXPORT`]) to the batch, numbered after `last_seq` in
/// card-number order from after the batch's last card (keyset paging on the
/// index `cards (bank_code, card_number)`, so a large batch is claimed in
/// linear time), and marks them exported: a new exchange row for a card's
/// first export, the re-queued card's row moved to this batch (its earlier
/// rejection stays in the audit entry of its re-queue). Gives how many were
/// added.
pub async fn claim_cards(
    conn: &mut AnyConnection,
    batch_id: &str,
    bank_code: &str,
    last_seq: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let after: String = sqlx::query_scalar::<_, String>(
        "SELECT c.card_number FROM bank_batch_cards b JOIN cards c ON c.id = b.card_id \
         WHERE b.batch_id = $1 AND b.seq = $2",
    )
    .bind(batch_id.to_owned())
    .bind(last_seq)
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or_default();
    let added = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO bank_batch_cards (batch_id, seq, card_id) \
         SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT) + ROW_NUMBER() OVER (ORDER BY page.card_number), page.id \
         FROM (SELECT c.id, c.card_number FROM cards c \
               WHERE c.bank_code = $3 AND c.card_number > $5 AND {AWAITING_EXPORT} \
               ORDER BY c.card_number LIMIT $4) page"
    )))
    .bind(batch_id.to_owned())
    .bind(last_seq)
    .bind(bank_code.to_owned())
    .bind(limit)
    .bind(after)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE bank_card_exchange SET export_batch_id = $1, exported_at = $2, status = 'exported', \
         return_batch_id = NULL, returned_at = NULL, rejection_code = NULL, rejection_text = NULL \
         WHERE status = 'requeued' \
         AND card_id IN (SELECT card_id FROM bank_batch_cards WHERE batch_id = $1 AND seq > $3)",
    )
    .bind(batch_id.to_owned())
    .bind(format_time(now))
    .bind(last_seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO bank_card_exchange (card_id, bank_code, export_batch_id, exported_at, status) \
         SELECT b.card_id, CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), 'exported' \
         FROM bank_batch_cards b WHERE b.batch_id = $2 AND b.seq > $4 \
         AND NOT EXISTS (SELECT 1 FROM bank_card_exchange x WHERE x.card_id = b.card_id)",
    )
    .bind(bank_code.to_owned())
    .bind(batch_id.to_owned())
    .bind(format_time(now))
    .bind(last_seq)
    .execute(&mut *conn)
    .await?;
    Ok(i64::try_from(added).unwrap_or(i64::MAX))
}

/// The highest record number of a batch so far (0 for none).
pub async fn batch_last_seq(conn: &mut AnyConnection, batch_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(MAX(seq), 0) FROM bank_batch_cards WHERE batch_id = $1",
    )
    .bind(batch_id.to_owned())
    .fetch_one(&mut *conn)
    .await?)
}

/// One record of an export file as stored: sealed personal data.
#[derive(Clone)]
pub struct ExportRow {
    pub seq: i64,
    pub card_number: String,
    pub issue_date: NaiveDate,
    pub expiry_date: NaiveDate,
    pub person_id: String,
    pub id_number_sealed: String,
    pub name: String,
    pub sex: String,
    pub birth_date: NaiveDate,
    pub mobile_sealed: Option<String>,
    pub address_sealed: Option<String>,
}

impl std::fmt::Debug for ExportRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportRow")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// The records of an export batch after `after_seq`, in order, at most `limit`.
pub async fn export_page(
    conn: &mut AnyConnection,
    batch_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<ExportRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT b.seq, c.card_number, c.issue_date, c.expiry_date, p.id AS person_id, \
         p.id_number_sealed, p.name, p.sex, p.birth_date, p.mobile_sealed, p.address_sealed \
         FROM bank_batch_cards b JOIN cards c ON c.id = b.card_id JOIN persons p ON p.id = c.person_id \
         WHERE b.batch_id = $1 AND b.seq > $2 ORDER BY b.seq LIMIT $3",
    )
    .bind(batch_id.to_owned())
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ExportRow {
                seq: row.try_get("seq")?,
                card_number: row.try_get("card_number")?,
                issue_date: parse_date(&row.try_get::<String, _>("issue_date")?)?,
                expiry_date: parse_date(&row.try_get::<String, _>("expiry_date")?)?,
                person_id: row.try_get("person_id")?,
                id_number_sealed: row.try_get("id_number_sealed")?,
                name: row.try_get("name")?,
                sex: row.try_get("sex")?,
                birth_date: parse_date(&row.try_get::<String, _>("birth_date")?)?,
                mobile_sealed: row.try_get("mobile_sealed")?,
                address_sealed: row.try_get("address_sealed")?,
            })
        })
        .collect()
}

/// A card as a return or activated-accounts record needs it: the holder's
/// blind index, the account and where the card stands with its bank.
#[derive(Clone)]
pub struct ExchangeCard {
    pub card_id: String,
    pub card_number: String,
    pub bank_code: String,
    pub social_state: String,
    pub financial_state: String,
    pub bank_account_sealed: Option<String>,
    pub bank_account_masked: Option<String>,
    pub holder_index: String,
    /// `None` when the card was never exported.
    pub status: Option<String>,
    pub export_batch_no: Option<String>,
    pub return_batch_id: Option<String>,
    pub rejection_code: Option<String>,
    pub rejection_text: Option<String>,
    pub account_index: Option<String>,
}

impl std::fmt::Debug for ExchangeCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeCard")
            .field("card_id", &self.card_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The cards with these numbers (any order; missing ones are left out).
pub async fn exchange_cards(
    conn: &mut AnyConnection,
    card_numbers: &[String],
) -> Result<Vec<ExchangeCard>, StoreError> {
    if card_numbers.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=card_numbers.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.card_number, c.bank_code, c.social_state, c.financial_state, \
         c.bank_account_sealed, c.bank_account_masked, p.id_number_index, x.status, \
         e.batch_no AS export_batch_no, x.return_batch_id, x.rejection_code, x.rejection_text, \
         x.account_index \
         FROM cards c JOIN persons p ON p.id = c.person_id \
         LEFT JOIN bank_card_exchange x ON x.card_id = c.id \
         LEFT JOIN bank_batches e ON e.id = x.export_batch_id \
         WHERE c.card_number IN ({})",
        placeholders.join(", ")
    )));
    for number in card_numbers {
        query = query.bind(number.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(ExchangeCard {
                card_id: row.try_get("id")?,
                card_number: row.try_get("card_number")?,
                bank_code: row.try_get("bank_code")?,
                social_state: row.try_get("social_state")?,
                financial_state: row.try_get("financial_state")?,
                bank_account_sealed: row.try_get("bank_account_sealed")?,
                bank_account_masked: row.try_get("bank_account_masked")?,
                holder_index: row.try_get("id_number_index")?,
                status: row.try_get("status")?,
                export_batch_no: row.try_get("export_batch_no")?,
                return_batch_id: row.try_get("return_batch_id")?,
                rejection_code: row.try_get("rejection_code")?,
                rejection_text: row.try_get("rejection_text")?,
                account_index: row.try_get("account_index")?,
            })
        })
        .collect()
}

/// The cards (by id) whose imported account has one of these blind indexes.
pub async fn cards_with_account_index(
    conn: &mut AnyConnection,
    indexes: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=indexes.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
        "SELECT account_index, card_id FROM bank_card_exchange WHERE account_index IN ({})",
        placeholders.join(", ")
    )));
    for index in indexes {
        query = query.bind(index.clone());
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

/// An account the bank opened, to be set on its card.
#[derive(Clone)]
pub struct AcceptedAccount {
    pub card_id: String,
    /// The account sealed for `cards.bank_account_sealed`.
    pub sealed: String,
    pub masked: String,
    /// The account's blind index.
    pub account_index: String,
}

impl std::fmt::Debug for AcceptedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedAccount")
            .field("card_id", &self.card_id)
            .finish_non_exhaustive()
    }
}

/// Records the bank's acceptance of these accounts (one per card): the
/// sealed and masked account on the card, the account's blind index and the
/// return batch on its exchange row. Set-based, a few statements for a
/// return chunk instead of two per record: each statement updates the rows
/// of a `VALUES` list joined on the primary key (`UPDATE … FROM`), at most
/// about 100 bind parameters a statement on SQLite (see
/// `store::batches::rows_per_statement`: sqlx's SQLite driver binds in
/// quadratic time), 4,000 on PostgreSQL (each statement a round trip).
pub async fn accept_accounts(
    conn: &mut AnyConnection,
    return_batch_id: &str,
    accounts: &[AcceptedAccount],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let params = if conn.backend_name() == "SQLite" {
        100
    } else {
        4000
    };
    let now = format_time(now);
    for part in accounts.chunks(params / 3) {
        let sql = format!(
            "WITH v (id, sealed, masked) AS (VALUES {}) \
             UPDATE cards SET bank_account_sealed = v.sealed, bank_account_masked = v.masked, \
             updated_at = $1 FROM v WHERE cards.id = v.id",
            values(2, 3, part.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.clone());
        for account in part {
            query = query
                .bind(account.card_id.clone())
                .bind(account.sealed.clone())
                .bind(account.masked.clone());
        }
        query.execute(&mut *conn).await?;
    }
    for part in accounts.chunks(params / 2) {
        let sql = format!(
            "WITH v (card_id, account_index) AS (VALUES {}) \
             UPDATE bank_card_exchange SET status = 'accepted', return_batch_id = $1, \
             returned_at = $2, rejection_code = NULL, rejection_text = NULL, \
             account_index = v.account_index FROM v WHERE bank_card_exchange.card_id = v.card_id",
            values(3, 2, part.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(return_batch_id.to_owned())
            .bind(now.clone());
        for account in part {
            query = query
                .bind(account.card_id.clone())
                .bind(account.account_index.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `($first, …), (…), …`: `rows` tuples of `width` parameters each.
fn values(first: usize, width: usize, rows: usize) -> String {
    (0..rows)
        .map(|row| {
            let start = first + row * width;
            let params: Vec<String> = (start..start + width).map(|i| format!("${i}")).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite's page cache, in KiB, of the connections of `sscard bank export`
/// and `import` while they run: the random look-ups of a million-card
/// exchange go through the UUID-keyed indexes of cards, persons and
/// `bank_card_exchange` and the unique indexes of `bank_batch_cards` and the
/// account index, each about 48 – 90 MB at a million rows (about 220 MB
/// together for an import, 185 MB for an export's claim); with SQLite's
/// default 2 MiB nearly every look-up read a page from the OS again. The
/// cache grows only as pages are read, up to this size (the sequentially
/// read table pages fill it too: an import of 100,000 records grew the
/// process to about 200 MB, a million-record one fills it), and is given
/// back by [`narrow_exchange_cache`]. PostgreSQL: its own shared buffers;
/// nothing to do.
pub const EXCHANGE_CACHE_KIB: i64 = 256 * 1024;

/// SQLite's automatic WAL checkpoint of the exchange's connections, in
/// pages (64 MiB of 4 KiB pages; SQLite's default is 1,000): a return chunk
/// rewrites some 1,500 – 2,000 pages (the account index's leaves are hit at
/// random), so with the default every commit was followed by a checkpoint
/// copying its pages to the database file; a longer interval copies a page
/// rewritten by several chunks once. Durability is unchanged: every commit is
/// in the WAL and synced (`synchronous=FULL`) before it returns. Measured on
/// 100,000 records: 8.7 – 9.4 s → 7.5 – 7.9 s.
pub const EXCHANGE_CHECKPOINT_PAGES: i64 = 16_384;

/// Widens this connection's page cache to [`EXCHANGE_CACHE_KIB`] and its
/// WAL checkpoint interval to [`EXCHANGE_CHECKPOINT_PAGES`] (SQLite).
/// Idempotent and cheap: the pages already cached stay.
pub async fn widen_exchange_cache(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "SQLite" {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA cache_size = -{EXCHANGE_CACHE_KIB}"
        )))
        .execute(&mut *conn)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA wal_autocheckpoint = {EXCHANGE_CHECKPOINT_PAGES}"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Back to SQLite's default page cache, freeing the pages beyond it, and
/// its default checkpoint interval.
pub async fn narrow_exchange_cache(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "SQLite" {
        sqlx::query("PRAGMA wal_autocheckpoint = 1000")
            .execute(&mut *conn)
            .await?;
    }
    super::batches::narrow_cache(conn).await
}

/// Records the bank's rejection with its reason, for staff to follow up.
pub async fn mark_rejected(
    conn: &mut AnyConnection,
    card_id: &str,
    return_batch_id: &str,
    code: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE bank_card_exchange SET status = 'rejected', return_batch_id = $1, returned_at = $2, \
         rejection_code = $3, rejection_text = $4 WHERE card_id = $5",
    )
    .bind(return_batch_id.to_owned())
    .bind(format_time(now))
    .bind(code.to_owned())
    .bind(text.to_owned())
    .bind(card_id.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// 重新报送: puts a card the bank rejected back in the queue of the next
/// export file, keeping the rejection (and the return batch that said it)
/// on the row until that export, so importing the same return file again
/// does not reject it anew. Compare-and-set on the status: gives `false`
/// when the card is not (or no longer) rejected.
pub async fn mark_requeued(conn: &mut AnyConnection, card_id: &str) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE bank_card_exchange SET status = 'requeued' WHERE card_id = $1 AND status = 'rejected'",
    )
    .bind(card_id.to_owned())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// One card the bank rejected, for the staff's follow-up list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectionRow {
    pub card_number: String,
    pub holder_name: String,
    pub holder_id_masked: String,
    pub rejection_code: String,
    pub rejection_text: String,
    pub export_batch_no: String,
    pub returned_at: DateTime<Utc>,
}

/// The cards of a bank whose account the bank refused, newest first.
pub async fn rejections(
    conn: &mut AnyConnection,
    bank_code: &str,
    limit: i64,
) -> Result<Vec<RejectionRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.card_number, p.name, p.id_number_masked, x.rejection_code, x.rejection_text, \
         e.batch_no, x.returned_at FROM bank_card_exchange x \
         JOIN cards c ON c.id = x.card_id JOIN persons p ON p.id = c.person_id \
         JOIN bank_batches e ON e.id = x.export_batch_id \
         WHERE x.bank_code = $1 AND x.status = 'rejected' ORDER BY x.returned_at DESC, c.card_number \
         LIMIT $2",
    )
    .bind(bank_code.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RejectionRow {
                card_number: row.try_get("card_number")?,
                holder_name: row.try_get("name")?,
                holder_id_masked: row.try_get("id_number_masked")?,
                rejection_code: row
                    .try_get::<Option<String>, _>("rejection_code")?
                    .unwrap_or_default(),
                rejection_text: row
                    .try_get::<Option<String>, _>("rejection_text")?
                    .unwrap_or_default(),
                export_batch_no: row.try_get("batch_no")?,
                returned_at: parse_time(
                    &row.try_get::<Option<String>, _>("returned_at")?
                        .unwrap_or_default(),
                )?,
            })
        })
        .collect()
}

/// Cards by exchange status per bank: `(bank, status, count)`.
pub async fn exchange_counts(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as::<_, (String, String, i64)>(
        "SELECT bank_code, status, COUNT(*) FROM bank_card_exchange \
         GROUP BY bank_code, status ORDER BY bank_code, status",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// How many cards of a bank await export (first or re-queued).
pub async fn count_awaiting_export(
    conn: &mut AnyConnection,
    bank_code: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM cards c WHERE c.bank_code = $1 AND {AWAITING_EXPORT}"
    )))
    .bind(bank_code.to_owned())
    .fetch_one(&mut *conn)
    .await?)
}

/// The active cards of a bank after `after` in card-number order, at most
/// `limit`: (card number, sealed account, card id).
pub async fn active_cards_page(
    conn: &mut AnyConnection,
    bank_code: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
    Ok(sqlx::query_as::<_, (String, Option<String>, String)>(
        "SELECT card_number, bank_account_sealed, id FROM cards \
         WHERE bank_code = $1 AND card_number > $2 AND financial_state = 'active' \
         ORDER BY card_number LIMIT $3",
    )
    .bind(bank_code.to_owned())
    .bind(after.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
