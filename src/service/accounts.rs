//! Use cases of staff, bank and employer accounts: creation with a one-time
//! initial password, sign-in with lock-out and TOTP, sessions, password
//! changes, disabling.

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sscard_domain::access::{
    AccessError, FAILURES_BEFORE_LOCKOUT, Role, RoleSet, check_password_policy, lockout_for,
    normalize_username,
};
use sscard_domain::identifiers::Uscc;

use super::commit;
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::store::accounts::{
    AccountRow, SessionRow, address_failures, clear_account_failures, insert_account,
    insert_session, record_account_failure, record_address_failure, revoke_account_sessions,
    revoke_other_sessions, revoke_session, set_disabled, set_password,
};
use crate::store::keys::SealedColumn;

mod administration;

pub use administration::{PasswordReset, RolesChange, RolesChanged};

/// A session ends after this long without a request.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session ends after this long whatever happens.
pub const SESSION_MAX_AGE: Duration = Duration::hours(12);
/// Failed sign-ins from one client address within this window count together.
const ADDRESS_WINDOW: Duration = Duration::minutes(15);
/// Failed sign-ins from one address tolerated within the window (across accounts).
const ADDRESS_FAILURES_ALLOWED: u32 = 20;

/// Where a request came from, for lock-out and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub address: String,
}

impl Client {
    pub fn local() -> Self {
        Self {
            address: "-".to_owned(),
        }
    }
}

/// How a session is carried: a bearer token (API) or a cookie (pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Api,
    Page,
}

impl Channel {
    fn code(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Page => "page",
        }
    }
}

/// What an administrator asks for when creating an account.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub username: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub bank_code: Option<String>,
    pub employer_uscc: Option<String>,
}

/// A created account with its secrets, shown once and never stored in clear.
pub struct CreatedAccount {
    pub account: AccountView,
    pub initial_password: String,
    /// For roles that must use TOTP: the secret (base32) and its otpauth URI.
    pub totp: Option<TotpEnrollment>,
}

pub struct TotpEnrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// An account as shown to administrators and to its owner.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employer_uscc: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub totp_enabled: bool,
    /// Set while sign-in is locked after repeated failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
}

/// The signed-in account behind a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub account_id: String,
    pub username: String,
    pub display_name: String,
    pub roles: RoleSet,
    pub bank_code: Option<String>,
    pub employer_uscc: Option<String>,
    pub must_change_password: bool,
    pub session_expires_at: DateTime<Utc>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// The audit trail's view of this account acting from `client`.
    pub fn actor(&self, client: &Client) -> Actor {
        let roles: Vec<&str> = self.roles.iter().map(Role::code).collect();
        Actor::account(&self.account_id, &roles.join("+"), &client.address)
    }
}

/// A successful sign-in: the token is shown to the client once.
pub struct SignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub principal: Principal,
}

/// A sign-in attempt.
pub struct SignInAttempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub totp: Option<&'a str>,
}

impl Services {
    /// Creates an account and returns its one-time initial password, which
    /// must be changed at the first sign-in.
    pub async fn create_account(
        &self,
        new: NewAccount,
        actor: &Actor,
    ) -> ServiceResult<CreatedAccount> {
        let mut errors = Vec::new();
        let username = normalize_username(&new.username);
        if username.is_none() {
            errors.push(FieldError::new(
                "username",
                "USERNAME_INVALID",
                "用户名须为 3–32 位小写字母、数字或 . _ -。",
            ));
        }
        let checked = check_roles(
            &new.roles,
            new.bank_code.as_deref(),
            new.employer_uscc.as_deref(),
            &mut errors,
        );
        let (role_set, bank_code, employer_uscc) = match checked {
            Some((set, bank, employer)) => (Some(set), bank, employer),
            None => (None, None, None),
        };
        let (Some(username), Some(role_set), true) = (username, role_set, errors.is_empty()) else {
            return Err(invalid("账号信息有误，请修改后重试。", errors));
        };
        if self.store().account_by_username(&username).await?.is_some() {
            return Err(ServiceError::Conflict {
                code: "USERNAME_TAKEN",
                detail: format!("用户名“{username}”已被使用，请换一个。"),
            });
        }

        let initial_password = generate_initial_password();
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let totp = if role_set.requires_totp() {
            let secret = sscard_crypto::random_bytes::<20>();
            let enrollment = totp_enrollment(&secret, &username)?;
            Some((secret, enrollment))
        } else {
            None
        };
        let row = AccountRow {
            id: id.clone(),
            username: username.clone(),
            display_name: new
                .display_name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| username.clone()),
            password_hash: hash_password(&initial_password)?,
            must_change_password: true,
            totp_secret_sealed: totp.as_ref().map(|(_, enrollment)| {
                self.keyring()
                    .encrypt_str(&enrollment.secret_base32, TOTP_COLUMN.aad(&id).as_bytes())
            }),
            bank_code,
            employer_uscc,
            disabled: false,
            failed_sign_ins: 0,
            locked_until: None,
            roles: role_set.iter().map(|r| r.code().to_owned()).collect(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store().begin().await?;
        insert_account(&mut tx, &row).await?;
        self.record_audit(
            &mut tx,
            actor,
            "account.create",
            &format!("account:{id}"),
            Outcome::Succeeded,
            serde_json::json!({ "username": username, "roles": row.roles, "totp": totp.is_some() }),
        )
        .await?;
        commit(tx).await?;
        Ok(CreatedAccount {
            account: view(&row),
            initial_password,
            totp: totp.map(|(_, enrollment)| enrollment),
        })
    }

    /// Signs in with username, password and (when required) a TOTP code.
    /// Every answer to a wrong credential is the same, so it tells nothing
    /// about which part was wrong; repeated failures lock the account and the
    /// client address for a growing time.
    pub async fn sign_in(
        &self,
        attempt: &SignInAttempt<'_>,
        client: &Client,
        channel: Channel,
    ) -> ServiceResult<SignedIn> {
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let (address_failures, latest) =
            address_failures(&mut tx, &client.address, now - ADDRESS_WINDOW).await?;
        if address_failures >= ADDRESS_FAILURES_ALLOWED {
            let retry = latest.unwrap_or(now) + ADDRESS_WINDOW - now;
            return Err(ServiceError::TooManyRequests {
                code: "TOO_MANY_SIGN_IN_FAILURES",
                detail: format!(
                    "来自您所在网络的登录失败次数过多，请 {} 分钟后再试。",
                    minutes_ceil(retry)
                ),
                retry_after_seconds: u64::try_from(retry.num_seconds().max(1)).unwrap_or(60),
            });
        }
        let username = normalize_username(attempt.username).unwrap_or_default();
        let account = self.store().account_by_username(&username).await?;
        let Some(account) = account else {
            // Spend the same effort as a real check so timing does not tell
            // whether the username exists.
            let _ = verify_password(attempt.password, &DUMMY_HASH);
            record_address_failure(&mut tx, &client.address, now).await?;
            commit(tx).await?;
            return Err(wrong_credentials());
        };
        let object = format!("account:{}", account.id);
        let actor = Actor::account(&account.id, "-", &client.address);
        if let Some(until) = account.locked_until.filter(|until| *until > now) {
            commit(tx).await?;
            return Err(locked(until - now));
        }
        if account.disabled {
            return self
                .commit_refusal(
                    tx,
                    &actor,
                    "session.sign_in",
                    &object,
                    serde_json::json!({"reason": "disabled"}),
                    ServiceError::Forbidden {
                        code: "ACCOUNT_DISABLED",
                        detail: "该账号已停用，请联系系统管理员。".to_owned(),
                    },
                )
                .await;
        }
        let password_ok = verify_password(attempt.password, &account.password_hash);
        let totp_ok = match &account.totp_secret_sealed {
            None => true,
            Some(sealed) => {
                let secret_base32 = self.open_sealed(sealed, &TOTP_COLUMN.aad(&account.id))?;
                attempt
                    .totp
                    .is_some_and(|code| check_totp(&secret_base32, code))
            }
        };
        if !(password_ok && totp_ok) {
            let failures = account.failed_sign_ins.saturating_add(1);
            let locked_until = lockout_for(failures).map(|lock| now + lock);
            record_account_failure(&mut tx, &account.id, failures, locked_until, now).await?;
            record_address_failure(&mut tx, &client.address, now).await?;
            self.record_audit(
                &mut tx,
                &actor,
                "session.sign_in",
                &object,
                Outcome::Refused,
                serde_json::json!({ "reason": if password_ok { "totp" } else { "password" }, "failures": failures }),
            )
            .await?;
            commit(tx).await?;
            return Err(match locked_until {
                Some(until) => locked(until - now),
                None if password_ok && attempt.totp.is_none() => ServiceError::Unauthorized {
                    code: "TOTP_REQUIRED",
                    detail: "该账号须输入动态口令（TOTP）。请打开身份验证器应用，输入当前的 6 位动态口令。".to_owned(),
                },
                None => wrong_credentials_with_remaining(FAILURES_BEFORE_LOCKOUT.saturating_sub(failures)),
            });
        }

        let roles = role_set(&account)?;
        let token = hex::encode(sscard_crypto::random_bytes::<32>());
        let expires_at = now + SESSION_MAX_AGE;
        clear_account_failures(&mut tx, &account.id, now).await?;
        insert_session(
            &mut tx,
            &SessionRow {
                token_hash: token_hash(&token),
                account_id: account.id.clone(),
                channel: channel.code().to_owned(),
                client_address: client.address.clone(),
                created_at: now,
                last_seen_at: now,
                expires_at,
                revoked_at: None,
            },
        )
        .await?;
        let principal = principal(&account, roles, expires_at);
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "session.sign_in",
            &object,
            Outcome::Succeeded,
            serde_json::json!({ "channel": channel.code() }),
        )
        .await?;
        commit(tx).await?;
        Ok(SignedIn {
            token,
            expires_at,
            principal,
        })
    }

    /// The principal of a session token, if the session is open.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Principal> {
        let now = Utc::now();
        let hash = token_hash(token.trim());
        // One statement: the session, its account and the account's roles.
        let (session, account) = self
            .store()
            .session_with_account(&hash)
            .await?
            .ok_or_else(not_signed_in)?;
        let idle_expiry = session.last_seen_at + SESSION_IDLE_TIMEOUT;
        if session.revoked_at.is_some() || session.expires_at <= now || idle_expiry <= now {
            return Err(ServiceError::Unauthorized {
                code: "SESSION_EXPIRED",
                detail: "登录已过期或已退出，请重新登录。".to_owned(),
            });
        }
        if account.disabled {
            return Err(ServiceError::Unauthorized {
                code: "ACCOUNT_DISABLED",
                detail: "该账号已停用，请联系系统管理员。".to_owned(),
            });
        }
        // Restart the idle timer, at most once a minute per session.
        if now - session.last_seen_at > Duration::minutes(1) {
            self.store().touch_session(&hash, now).await?;
        }
        let roles = role_set(&account)?;
        Ok(principal(&account, roles, session.expires_at))
    }

    /// Ends the session of `token`.
    pub async fn sign_out(
        &self,
        token: &str,
        principal: &Principal,
        client: &Client,
    ) -> ServiceResult<()> {
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        revoke_session(&mut tx, &token_hash(token.trim()), now).await?;
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "session.sign_out",
            &format!("account:{}", principal.account_id),
            Outcome::Succeeded,
            serde_json::json!({}),
        )
        .await?;
        commit(tx).await
    }

    /// Changes the signed-in account's password (required after the first
    /// sign-in). Other sessions of the account end.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        token: &str,
        client: &Client,
    ) -> ServiceResult<()> {
        self.change_password_checked(
            principal,
            current_password,
            new_password,
            None,
            token,
            client,
        )
        .await
    }

    /// [`Services::change_password`] with the new password typed twice (the
    /// password page): a mismatch is listed together with every other problem.
    pub async fn change_password_confirmed(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        repeated_password: &str,
        token: &str,
        client: &Client,
    ) -> ServiceResult<()> {
        self.change_password_checked(
            principal,
            current_password,
            new_password,
            Some(repeated_password),
            token,
            client,
        )
        .await
    }

    async fn change_password_checked(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        repeated_password: Option<&str>,
        token: &str,
        client: &Client,
    ) -> ServiceResult<()> {
        let account = self
            .store()
            .account(&principal.account_id)
            .await?
            .ok_or_else(not_signed_in)?;
        let mut errors = Vec::new();
        if !verify_password(current_password, &account.password_hash) {
            errors.push(FieldError::new(
                "current_password",
                "PASSWORD_WRONG",
                "当前密码不正确。",
            ));
        }
        for problem in check_password_policy(new_password, &account.username) {
            errors.push(FieldError::new(
                "new_password",
                problem.code(),
                problem.message_zh(),
            ));
        }
        if verify_password(new_password, &account.password_hash) {
            errors.push(FieldError::new(
                "new_password",
                "PASSWORD_UNCHANGED",
                "新密码不能与当前密码相同。",
            ));
        }
        if repeated_password.is_some_and(|repeated| repeated != new_password) {
            errors.push(FieldError::new(
                "repeat_password",
                "PASSWORD_REPEAT_MISMATCH",
                "两次输入的新密码不一致。",
            ));
        }
        if !errors.is_empty() {
            return Err(invalid("密码未修改，请按提示修改后重试。", errors));
        }
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        set_password(
            &mut tx,
            &account.id,
            &hash_password(new_password)?,
            false,
            now,
        )
        .await?;
        // Every other session of the account ends; this one continues.
        revoke_other_sessions(&mut tx, &account.id, &token_hash(token.trim()), now).await?;
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "account.change_password",
            &format!("account:{}", account.id),
            Outcome::Succeeded,
            serde_json::json!({}),
        )
        .await?;
        commit(tx).await
    }

    /// Disables (or re-enables) an account; disabling ends its sessions at once.
    pub async fn set_account_disabled(
        &self,
        username: &str,
        disabled: bool,
        actor: &Actor,
    ) -> ServiceResult<AccountView> {
        let account = self.account_named(username).await?;
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        set_disabled(&mut tx, &account.id, disabled, now).await?;
        let ended = if disabled {
            revoke_account_sessions(&mut tx, &account.id, now).await?
        } else {
            0
        };
        self.record_audit(
            &mut tx,
            actor,
            if disabled {
                "account.disable"
            } else {
                "account.enable"
            },
            &format!("account:{}", account.id),
            Outcome::Succeeded,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await?;
        commit(tx).await?;
        let mut view = view(&account);
        view.disabled = disabled;
        Ok(view)
    }

    pub async fn list_accounts(&self) -> ServiceResult<Vec<AccountView>> {
        Ok(self.store().accounts().await?.iter().map(view).collect())
    }

    async fn account_named(&self, username: &str) -> ServiceResult<AccountRow> {
        let username = normalize_username(username).unwrap_or_default();
        self.store()
            .account_by_username(&username)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                code: "ACCOUNT_NOT_FOUND",
                detail: format!("没有用户名为“{username}”的账号。"),
            })
    }
}

fn invalid(detail: &str, errors: Vec<FieldError>) -> ServiceError {
    ServiceError::Invalid {
        code: "VALIDATION_FAILED",
        detail: detail.to_owned(),
        errors,
    }
}

/// Checks role codes and their bindings (bank code, employer USCC; blank
/// counts as absent), pushing every problem to `errors`. Gives the role set
/// and the normalised bindings when they are all acceptable.
fn check_roles(
    codes: &[String],
    bank_code: Option<&str>,
    employer_uscc: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<(RoleSet, Option<String>, Option<String>)> {
    let before = errors.len();
    let mut roles = Vec::new();
    for code in codes {
        match Role::parse(code) {
            Ok(role) => roles.push(role),
            Err(e) => errors.push(FieldError::new("roles", e.code(), e.to_string())),
        }
    }
    let employer_given = employer_uscc.map(str::trim).filter(|uscc| !uscc.is_empty());
    let employer = match employer_given.map(Uscc::parse).transpose() {
        Ok(uscc) => uscc.map(|uscc| uscc.as_str().to_owned()),
        Err(e) => {
            errors.push(FieldError::new("employer_uscc", e.code(), e.to_string()));
            None
        }
    };
    let bank = bank_code
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_owned);
    if roles.len() != codes.len() {
        return None;
    }
    match RoleSet::new(roles, bank.is_some(), employer_given.is_some()) {
        Ok(set) => (errors.len() == before).then_some((set, bank, employer)),
        Err(e) => {
            errors.push(role_error(&e));
            None
        }
    }
}

fn role_error(error: &AccessError) -> FieldError {
    let field = match error {
        AccessError::BankRequired | AccessError::BankNotAllowed => "bank_code",
        AccessError::EmployerRequired | AccessError::EmployerNotAllowed => "employer_uscc",
        _ => "roles",
    };
    FieldError::new(field, error.code(), error.to_string())
}

fn wrong_credentials() -> ServiceError {
    ServiceError::Unauthorized {
        code: "INVALID_CREDENTIALS",
        detail: "用户名、密码或动态口令不正确，请核对后重试。".to_owned(),
    }
}

fn wrong_credentials_with_remaining(remaining: u32) -> ServiceError {
    ServiceError::Unauthorized {
        code: "INVALID_CREDENTIALS",
        detail: format!(
            "用户名、密码或动态口令不正确，请核对后重试。再错 {remaining} 次，账号将被暂时锁定。"
        ),
    }
}

fn locked(remaining: Duration) -> ServiceError {
    ServiceError::Forbidden {
        code: "ACCOUNT_LOCKED",
        detail: format!(
            "连续登录失败次数过多，账号已被锁定，请 {} 分钟后再试；如忘记密码，请联系系统管理员重置。",
            minutes_ceil(remaining)
        ),
    }
}

fn not_signed_in() -> ServiceError {
    ServiceError::Unauthorized {
        code: "NOT_SIGNED_IN",
        detail: "请先登录。".to_owned(),
    }
}

fn minutes_ceil(duration: Duration) -> i64 {
    (duration.num_seconds().max(0) + 59) / 60
}

fn role_set(account: &AccountRow) -> ServiceResult<RoleSet> {
    let roles = account
        .roles
        .iter()
        .map(|code| Role::parse(code))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!(
                "account {} has a stored role that does not parse: {e}",
                account.id
            ))
        })?;
    RoleSet::new(
        roles,
        account.bank_code.is_some(),
        account.employer_uscc.is_some(),
    )
    .map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!(
            "account {} has inconsistent roles: {e}",
            account.id
        ))
    })
}

fn principal(account: &AccountRow, roles: RoleSet, expires_at: DateTime<Utc>) -> Principal {
    Principal {
        account_id: account.id.clone(),
        username: account.username.clone(),
        display_name: account.display_name.clone(),
        roles,
        bank_code: account.bank_code.clone(),
        employer_uscc: account.employer_uscc.clone(),
        must_change_password: account.must_change_password,
        session_expires_at: expires_at,
    }
}

fn view(account: &AccountRow) -> AccountView {
    // In the order of the process (受理, 经办, 反馈, …), not of the codes.
    let roles: std::collections::BTreeSet<Role> = account
        .roles
        .iter()
        .filter_map(|code| Role::parse(code).ok())
        .collect();
    AccountView {
        id: account.id.clone(),
        username: account.username.clone(),
        display_name: account.display_name.clone(),
        roles: roles.into_iter().collect(),
        bank_code: account.bank_code.clone(),
        employer_uscc: account.employer_uscc.clone(),
        disabled: account.disabled,
        must_change_password: account.must_change_password,
        totp_enabled: account.totp_secret_sealed.is_some(),
        locked_until: account.locked_until.filter(|until| *until > Utc::now()),
    }
}

/// Sessions are found by the SM3 hash of their token.
fn token_hash(token: &str) -> String {
    sscard_crypto::sm3_hex(token.as_bytes())
}

/// Where TOTP secrets are sealed (their base32 text).
const TOTP_COLUMN: SealedColumn = SealedColumn {
    table: "accounts",
    key: "id",
    column: "totp_secret_sealed",
};

/// An argon2id hash of a password ($argon2id$… PHC string).
fn hash_password(password: &str) -> ServiceResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A real hash of a random password, checked against when a username does
/// not exist so that such answers take as long as real ones.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&hex::encode(sscard_crypto::random_bytes::<16>())).unwrap_or_default()
});

/// A random 16-character initial password that meets the policy.
fn generate_initial_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"-_.+=!@#";
    let random = sscard_crypto::random_bytes::<16>();
    let sets = [LOWER, UPPER, DIGITS, SYMBOLS];
    random
        .iter()
        .enumerate()
        .map(|(i, byte)| {
            // The first four characters cover every class; the rest mix them.
            let set = if i < 4 {
                sets[i]
            } else {
                sets[usize::from(*byte) % 3]
            };
            char::from(set[usize::from(*byte) % set.len()])
        })
        .collect()
}

fn totp_enrollment(secret: &[u8; 20], username: &str) -> ServiceResult<TotpEnrollment> {
    let totp = totp_rs::Builder::new()
        .with_secret(*secret)
        .build()
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("TOTP set-up failed: {e:?}")))?;
    let secret_base32 = totp.secret().to_base32();
    let otpauth_uri = format!(
        "otpauth://totp/sscard:{username}?secret={secret_base32}&issuer=sscard&algorithm=SHA1&digits=6&period=30"
    );
    Ok(TotpEnrollment {
        secret_base32,
        otpauth_uri,
    })
}

/// Checks a 6-digit TOTP code (RFC 6238, 30 s steps, one step of skew)
/// against a base32 secret.
fn check_totp(secret_base32: &str, code: &str) -> bool {
    let Ok(secret) = totp_rs::Secret::try_from_base32(secret_base32) else {
        return false;
    };
    let Ok(totp) = totp_rs::Builder::new().with_secret(secret).build() else {
        return false;
    };
    let code = code.trim();
    code.len() == 6
        && code.chars().all(|c| c.is_ascii_digit())
        && totp.check_current(code).is_some()
}

/// The current TOTP code for a base32 secret (used by tests and by the
/// operator's own tooling; never by the server to check itself).
pub fn current_totp(secret_base32: &str) -> Option<String> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    let totp = totp_rs::Builder::new().with_secret(secret).build().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(totp.generate(now).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_passwords_meet_the_policy_and_differ() {
        for _ in 0..200 {
            let password = generate_initial_password();
            assert_eq!(password.len(), 16);
            assert!(
                check_password_policy(&password, "clerk").is_empty(),
                "{password}"
            );
        }
        assert_ne!(generate_initial_password(), generate_initial_password());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("Liujiang-318-Window").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("Liujiang-318-Window", &hash));
        assert!(!verify_password("Liujiang-318-window", &hash));
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
        assert!(!verify_password("anything", &DUMMY_HASH));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn totp_codes_check_against_their_secret() {
        let enrollment = totp_enrollment(&[7u8; 20], "admin").unwrap();
        let other = totp_enrollment(&[8u8; 20], "admin").unwrap();
        let code = current_totp(&enrollment.secret_base32).unwrap();
        assert!(check_totp(&enrollment.secret_base32, &code));
        assert!(!check_totp(&other.secret_base32, &code));
        assert!(!check_totp(&enrollment.secret_base32, "12345"));
        assert!(
            enrollment
                .otpauth_uri
                .starts_with("otpauth://totp/sscard:admin?secret=")
        );
    }
}
