//! Accounts, their roles, sessions and failed sign-ins.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{StoreError, Tx, format_time, parse_time};

/// One account as stored (the password only as its argon2id hash).
#[derive(Clone)]
pub struct AccountRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub totp_secret_sealed: Option<String>,
    pub bank_code: Option<String>,
    pub employer_uscc: Option<String>,
    pub disabled: bool,
    pub failed_sign_ins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// One session as stored.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub token_hash: String,
    pub account_id: String,
    pub channel: String,
    pub client_address: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const ACCOUNT_COLUMNS: &str = "id, username, display_name, password_hash, must_change_password, \
     totp_secret_sealed, bank_code, employer_uscc, disabled, failed_sign_ins, locked_until, \
     created_at, updated_at";

impl super::Store {
    pub async fn account_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1"
        )))
        .bind(username.to_owned())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_roles(account_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_roles(account_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY username"
        )))
        .fetch_all(self.pool())
        .await?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            accounts.push(self.with_roles(account_row(row)?).await?);
        }
        Ok(accounts)
    }

    async fn with_roles(&self, mut account: AccountRow) -> Result<AccountRow, StoreError> {
        let rows =
            sqlx::query("SELECT role FROM account_roles WHERE account_id = $1 ORDER BY role")
                .bind(account.id.clone())
                .fetch_all(self.pool())
                .await?;
        account.roles = rows
            .iter()
            .map(|row| row.try_get::<String, _>("role"))
            .collect::<Result<_, _>>()?;
        Ok(account)
    }

    /// A session and its account with the account's roles, in one statement
    /// (one row per role, folded here): what every staff request reads.
    /// `None` when there is no such session or its account is gone.
    pub async fn session_with_account(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionRow, AccountRow)>, StoreError> {
        // Every column aliased: both tables have created_at.
        let rows = sqlx::query(
            "SELECT s.token_hash AS s_token_hash, s.account_id AS s_account_id, \
             s.channel AS s_channel, s.client_address AS s_client_address, \
             s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, \
             s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, \
             a.id AS id, a.username AS username, a.display_name AS display_name, \
             a.password_hash AS password_hash, a.must_change_password AS must_change_password, \
             a.totp_secret_sealed AS totp_secret_sealed, a.bank_code AS bank_code, \
             a.employer_uscc AS employer_uscc, a.disabled AS disabled, \
             a.failed_sign_ins AS failed_sign_ins, a.locked_until AS locked_until, \
             a.created_at AS created_at, a.updated_at AS updated_at, r.role AS r_role \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN account_roles r ON r.account_id = a.id \
             WHERE s.token_hash = $1 ORDER BY r.role",
        )
        .bind(token_hash.to_owned())
        .fetch_all(self.pool())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let session = session_row_prefixed(first, "s_")?;
        let mut account = account_row(first)?;
        for row in &rows {
            if let Some(role) = row.try_get::<Option<String>, _>("r_role")? {
                account.roles.push(role);
            }
        }
        Ok(Some((session, account)))
    }

    /// Records activity on a session (its idle timer restarts).
    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(format_time(now))
        .bind(token_hash.to_owned())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

pub async fn insert_account(tx: &mut Tx, account: &AccountRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO accounts (id, username, display_name, password_hash, must_change_password, \
         totp_secret_sealed, bank_code, employer_uscc, disabled, failed_sign_ins, locked_until, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(account.id.clone())
    .bind(account.username.clone())
    .bind(account.display_name.clone())
    .bind(account.password_hash.clone())
    .bind(i64::from(account.must_change_password))
    .bind(account.totp_secret_sealed.clone())
    .bind(account.bank_code.clone())
    .bind(account.employer_uscc.clone())
    .bind(i64::from(account.disabled))
    .bind(i64::from(account.failed_sign_ins))
    .bind(account.locked_until.map(format_time))
    .bind(format_time(account.created_at))
    .bind(format_time(account.updated_at))
    .execute(&mut **tx)
    .await?;
    set_roles(tx, &account.id, &account.roles).await
}

pub async fn set_roles(tx: &mut Tx, account_id: &str, roles: &[String]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM account_roles WHERE account_id = $1")
        .bind(account_id.to_owned())
        .execute(&mut **tx)
        .await?;
    for role in roles {
        sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, $2)")
            .bind(account_id.to_owned())
            .bind(role.clone())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records a failed sign-in on the account and, when due, its lock.
pub async fn record_account_failure(
    tx: &mut Tx,
    account_id: &str,
    failures: u32,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET failed_sign_ins = $1, locked_until = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(i64::from(failures))
    .bind(locked_until.map(format_time))
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn clear_account_failures(
    tx: &mut Tx,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET failed_sign_ins = 0, locked_until = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_password(
    tx: &mut Tx,
    account_id: &str,
    password_hash: &str,
    must_change_password: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $1, must_change_password = $2, failed_sign_ins = 0, \
         locked_until = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(password_hash.to_owned())
    .bind(i64::from(must_change_password))
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_disabled(
    tx: &mut Tx,
    account_id: &str,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(format_time(now))
        .bind(account_id.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Binds an account to a cooperating bank and/or an employer (or unbinds it).
pub async fn set_bindings(
    tx: &mut Tx,
    account_id: &str,
    bank_code: Option<&str>,
    employer_uscc: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET bank_code = $1, employer_uscc = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(bank_code.map(str::to_owned))
    .bind(employer_uscc.map(str::to_owned))
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores an account's sealed TOTP secret.
pub async fn set_totp_secret(
    tx: &mut Tx,
    account_id: &str,
    totp_secret_sealed: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET totp_secret_sealed = $1, updated_at = $2 WHERE id = $3")
        .bind(totp_secret_sealed.to_owned())
        .bind(format_time(now))
        .bind(account_id.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn record_address_failure(
    tx: &mut Tx,
    client_address: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sign_in_failures (client_address, occurred_at) VALUES ($1, $2)")
        .bind(client_address.to_owned())
        .bind(format_time(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Failed sign-ins from one address since `since`, and the latest of them.
pub async fn address_failures(
    tx: &mut Tx,
    client_address: &str,
    since: DateTime<Utc>,
) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS failures, MAX(occurred_at) AS latest FROM sign_in_failures \
         WHERE client_address = $1 AND occurred_at >= $2",
    )
    .bind(client_address.to_owned())
    .bind(format_time(since))
    .fetch_one(&mut **tx)
    .await?;
    let failures: i64 = row.try_get("failures")?;
    let latest: Option<String> = row.try_get("latest")?;
    Ok((
        u32::try_from(failures).unwrap_or(u32::MAX),
        latest.as_deref().map(parse_time).transpose()?,
    ))
}

pub async fn insert_session(tx: &mut Tx, session: &SessionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, channel, client_address, created_at, \
         last_seen_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(session.token_hash.clone())
    .bind(session.account_id.clone())
    .bind(session.channel.clone())
    .bind(session.client_address.clone())
    .bind(format_time(session.created_at))
    .bind(format_time(session.last_seen_at))
    .bind(format_time(session.expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn revoke_session(
    tx: &mut Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(format_time(now))
        .bind(token_hash.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every open session of an account; returns how many.
pub async fn revoke_account_sessions(
    tx: &mut Tx,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected())
}

/// Ends every open session of an account except the one of `keep_token_hash`.
pub async fn revoke_other_sessions(
    tx: &mut Tx,
    account_id: &str,
    keep_token_hash: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND token_hash <> $3 \
         AND revoked_at IS NULL",
    )
    .bind(format_time(now))
    .bind(account_id.to_owned())
    .bind(keep_token_hash.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected())
}

fn account_row(row: &AnyRow) -> Result<AccountRow, StoreError> {
    let locked_until: Option<String> = row.try_get("locked_until")?;
    Ok(AccountRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        totp_secret_sealed: row.try_get("totp_secret_sealed")?,
        bank_code: row.try_get("bank_code")?,
        employer_uscc: row.try_get("employer_uscc")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        failed_sign_ins: u32::try_from(row.try_get::<i64, _>("failed_sign_ins")?)
            .unwrap_or(u32::MAX),
        locked_until: locked_until.as_deref().map(parse_time).transpose()?,
        roles: Vec::new(),
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

/// A session from columns named `{prefix}token_hash` etc.
fn session_row_prefixed(row: &AnyRow, prefix: &str) -> Result<SessionRow, StoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let time = |name: &str| -> Result<DateTime<Utc>, StoreError> {
        parse_time(&row.try_get::<String, _>(column(name).as_str())?)
    };
    let revoked_at: Option<String> = row.try_get(column("revoked_at").as_str())?;
    Ok(SessionRow {
        token_hash: row.try_get(column("token_hash").as_str())?,
        account_id: row.try_get(column("account_id").as_str())?,
        channel: row.try_get(column("channel").as_str())?,
        client_address: row.try_get(column("client_address").as_str())?,
        created_at: time("created_at")?,
        last_seen_at: time("last_seen_at")?,
        expires_at: time("expires_at")?,
        revoked_at: revoked_at.as_deref().map(parse_time).transpose()?,
    })
}
