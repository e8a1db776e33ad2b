//! What an administrator does to other people's accounts beyond creating and
//! disabling them: resetting a forgotten password and changing roles.

use chrono::Utc;
use sscard_domain::access::Role;

use super::{
    AccountView, TOTP_COLUMN, TotpEnrollment, check_roles, commit, generate_initial_password,
    hash_password, invalid, totp_enrollment, view,
};
use crate::service::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::store::accounts::{
    AccountRow, revoke_account_sessions, set_bindings, set_password, set_roles, set_totp_secret,
};

/// A reset password: the new one-time initial password, shown once.
pub struct PasswordReset {
    pub account: AccountView,
    pub initial_password: String,
    /// How many open sessions of the account ended.
    pub sessions_ended: u64,
}

/// The roles an account is to have, with their bindings.
#[derive(Clone, Debug)]
pub struct RolesChange {
    pub roles: Vec<String>,
    /// For `bank_teller`: the cooperating bank's code.
    pub bank_code: Option<String>,
    /// For `employer`: the employer's unified social credit code.
    pub employer_uscc: Option<String>,
}

/// The outcome of a role change.
pub struct RolesChanged {
    pub account: AccountView,
    /// Whether anything changed (the same roles again change nothing).
    pub changed: bool,
    /// When the new roles need TOTP and the account had no secret: the new
    /// secret, shown once.
    pub totp: Option<TotpEnrollment>,
    /// How many open sessions of the account ended.
    pub sessions_ended: u64,
}

impl Services {
    /// One account, by username.
    pub async fn account(&self, username: &str) -> ServiceResult<AccountView> {
        Ok(view(&self.account_named(username).await?))
    }

    /// Gives an account a new one-time initial password (for a person who
    /// forgot theirs or is locked out): it must be changed at the next
    /// sign-in, the lock-out is lifted and every session of the account ends.
    /// Administrators change their own password themselves instead.
    pub async fn reset_password(
        &self,
        username: &str,
        actor: &Actor,
    ) -> ServiceResult<PasswordReset> {
        let account = self.account_named(username).await?;
        if acts_on_itself(actor, &account) {
            return Err(ServiceError::Conflict {
                code: "OWN_PASSWORD_RESET",
                detail: "不能重置自己的密码，请在“修改密码”页面修改。".to_owned(),
            });
        }
        let initial_password = generate_initial_password();
        let password_hash = hash_password(&initial_password)?;
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        set_password(&mut tx, &account.id, &password_hash, true, now).await?;
        let sessions_ended = revoke_account_sessions(&mut tx, &account.id, now).await?;
        self.record_audit(
            &mut tx,
            actor,
            "account.reset_password",
            &format!("account:{}", account.id),
            Outcome::Succeeded,
            serde_json::json!({ "username": account.username, "sessions_ended": sessions_ended }),
        )
        .await?;
        commit(tx).await?;
        let mut account = view(&account);
        account.must_change_password = true;
        account.locked_until = None;
        Ok(PasswordReset {
            account,
            initial_password,
            sessions_ended,
        })
    }

    /// Changes an account's roles and bindings, checked like a new account's.
    /// When the new roles need TOTP (admin, supervisor) and the account has
    /// none yet, a secret is generated and returned once. Every session of
    /// the account ends, so its holder signs in again under the new roles.
    /// Administrators cannot take away their own admin role (so that the
    /// last one cannot lock everyone out).
    pub async fn change_roles(
        &self,
        username: &str,
        change: RolesChange,
        actor: &Actor,
    ) -> ServiceResult<RolesChanged> {
        let account = self.account_named(username).await?;
        let mut errors = Vec::new();
        let checked = check_roles(
            &change.roles,
            change.bank_code.as_deref(),
            change.employer_uscc.as_deref(),
            &mut errors,
        );
        let was_admin = account.roles.iter().any(|code| code == Role::Admin.code());
        let stays_admin = change
            .roles
            .iter()
            .any(|code| code.trim() == Role::Admin.code());
        if acts_on_itself(actor, &account) && was_admin && !stays_admin {
            errors.push(FieldError::new(
                "roles",
                "OWN_ADMIN_ROLE",
                "不能取消自己的系统管理员角色；如确需取消，请由另一位系统管理员操作。",
            ));
        }
        let (Some((role_set, bank_code, employer_uscc)), true) = (checked, errors.is_empty())
        else {
            return Err(invalid("角色未修改，请按提示修改后重试。", errors));
        };
        let roles: Vec<String> = role_set.iter().map(|r| r.code().to_owned()).collect();
        let mut current_roles = account.roles.clone();
        current_roles.sort();
        let mut new_roles = roles.clone();
        new_roles.sort();
        if new_roles == current_roles
            && bank_code == account.bank_code
            && employer_uscc == account.employer_uscc
        {
            return Ok(RolesChanged {
                account: view(&account),
                changed: false,
                totp: None,
                sessions_ended: 0,
            });
        }

        let totp = if role_set.requires_totp() && account.totp_secret_sealed.is_none() {
            let secret = sscard_crypto::random_bytes::<20>();
            Some(totp_enrollment(&secret, &account.username)?)
        } else {
            None
        };
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        set_roles(&mut tx, &account.id, &roles).await?;
        set_bindings(
            &mut tx,
            &account.id,
            bank_code.as_deref(),
            employer_uscc.as_deref(),
            now,
        )
        .await?;
        if let Some(enrollment) = &totp {
            let sealed = self.keyring().encrypt_str(
                &enrollment.secret_base32,
                TOTP_COLUMN.aad(&account.id).as_bytes(),
            );
            set_totp_secret(&mut tx, &account.id, &sealed, now).await?;
        }
        let sessions_ended = revoke_account_sessions(&mut tx, &account.id, now).await?;
        self.record_audit(
            &mut tx,
            actor,
            "account.change_roles",
            &format!("account:{}", account.id),
            Outcome::Succeeded,
            serde_json::json!({
                "username": account.username,
                "from": account.roles,
                "to": roles,
                "bank_code": bank_code,
                "employer_uscc": employer_uscc,
                "totp_enrolled": totp.is_some(),
                "sessions_ended": sessions_ended,
            }),
        )
        .await?;
        commit(tx).await?;
        let mut updated = view(&AccountRow {
            roles,
            bank_code,
            employer_uscc,
            ..account
        });
        updated.totp_enabled |= totp.is_some();
        Ok(RolesChanged {
            account: updated,
            changed: true,
            totp,
            sessions_ended,
        })
    }
}

/// Whether an administrator is acting on their own account.
fn acts_on_itself(actor: &Actor, account: &AccountRow) -> bool {
    actor.id == format!("account:{}", account.id)
}
