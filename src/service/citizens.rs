//! Citizens (办事群众) sign in with their ID number, their name and a
//! one-time code sent by SMS to the mobile number on record, and then see
//! only their own data.
//!
//! # The code
//!
//! Six digits drawn without bias from the operating system's random source,
//! valid for 5 minutes, single use, at most 5 tries; only a person's newest
//! code counts. The database holds only its HMAC-SM3 blind index (purpose
//! [`OTP_INDEX`], over `<person id>:<code id>:<code>`), and a try compares
//! the indexes in constant time after the try has been counted
//! ([`crate::store::citizens::spend_attempt`]).
//!
//! # What an answer reveals
//!
//! [`Services::request_otp`] answers every well-formed request the same way
//! ([`OTP_REQUESTED_MESSAGE`], HTTP 202), whether or not the ID number is
//! registered, the name matches or a mobile number is on record, so it
//! cannot be used to find out who is registered. For the same reason the
//! per-person limit (one code a minute, five an hour) is applied silently:
//! the answer stays the same and no message goes out. The limits that do
//! answer `429 OTP_RATE_LIMITED` are per client address and count every
//! request, whoever it named, so they reveal nothing about a person.
//! Two answers differ by necessity: a request whose SMS the provider
//! refused is told so (`502 SMS_SEND_FAILED`), since telling a citizen a
//! code is on its way when it is not would be worse, and that can happen
//! only for a registered person with a matching name; and such a request
//! takes as long as the provider does. Both are bounded by the per-address
//! limit.
//!
//! Sign-in refuses every wrong combination with the same
//! `401 OTP_INVALID`, and failed sign-ins per client address are limited.
//!
//! # Sessions
//!
//! A citizen session lasts at most 2 hours and ends after 15 minutes
//! without a request. Its token starts with [`CITIZEN_TOKEN_PREFIX`] (staff
//! tokens are plain hex), so the web layer tells the two kinds apart without
//! a database look-up, and a token of one kind never opens a route of the
//! other.

use chrono::{DateTime, Duration, Utc};
use sscard_domain::identifiers::{IdNumber, MobileNumber};
use sscard_domain::registry::PersonName;

use super::accounts::Client;
use super::commit;
use super::registry::ID_NUMBER_INDEX;
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services};
use crate::store::Tx;
use crate::store::citizens::{
    AttemptKind, CitizenSessionRow, OtpRow, attempts_since, citizen_session_with_person,
    codes_issued_since, delete_code, insert_citizen_session, insert_code, latest_code,
    mark_code_used, record_attempt, revoke_citizen_session, spend_attempt, touch_citizen_session,
};
use crate::store::registry::{MOBILE_SEALED, PersonRow, lock_person, person_by_index};

/// The blind-index purpose of one-time codes.
pub const OTP_INDEX: &str = "citizen.otp";
/// How long a code is valid.
pub const OTP_LIFETIME: Duration = Duration::minutes(5);
/// Tries per code; the fifth wrong one kills it.
pub const OTP_MAX_ATTEMPTS: i64 = 5;
/// A person gets at most one code per this interval …
pub const OTP_RESEND_INTERVAL: Duration = Duration::seconds(60);
/// … and at most this many codes per hour.
pub const OTP_PER_HOUR: usize = 5;
/// Code requests from one client address within this window count together …
const ADDRESS_OTP_WINDOW: Duration = Duration::minutes(15);
/// … up to this many (whoever they name).
const ADDRESS_OTP_REQUESTS_ALLOWED: u32 = 20;
/// Failed citizen sign-ins from one client address within this window …
const ADDRESS_FAILURE_WINDOW: Duration = Duration::minutes(15);
/// … tolerated up to this many.
const ADDRESS_FAILURES_ALLOWED: u32 = 20;
/// Codes older than this are deleted when the person asks for a new one.
const OTP_RETENTION: Duration = Duration::days(1);

/// A citizen session ends after this long without a request …
pub const CITIZEN_SESSION_IDLE_TIMEOUT: Duration = Duration::minutes(15);
/// … and after this long whatever happens.
pub const CITIZEN_SESSION_MAX_AGE: Duration = Duration::hours(2);
/// Every citizen token starts with this; staff tokens never do.
pub const CITIZEN_TOKEN_PREFIX: &str = "c_";

/// The one answer to every well-formed code request.
pub const OTP_REQUESTED_MESSAGE: &str = "如身份信息与登记信息一致，验证码已发送至预留手机号，5 分钟内有效。如未收到短信，请 1 分钟后重新获取；如预留手机号已变更，请携带身份证到窗口更新。";

/// The text of the code message.
fn otp_text(code: &str) -> String {
    format!("【柳江区人社局】您的验证码为 {code}，5 分钟内有效。请勿告诉他人。")
}

/// The answer to a code request (always the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpRequested {
    pub message: &'static str,
    /// How long a code is valid, in seconds.
    pub expires_in_seconds: u64,
    /// How long to wait before asking again, in seconds.
    pub resend_after_seconds: u64,
}

/// A successful citizen sign-in: the token is shown to the client once.
pub struct CitizenSignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub principal: CitizenPrincipal,
}

/// The signed-in citizen behind a request.
///
/// Routes for citizens see only the citizen's own data: every look-up is
/// narrowed to [`CitizenPrincipal::person_id`], and a record of someone else
/// is answered as if it did not exist ([`CitizenPrincipal::owns`]).
#[derive(Clone)]
pub struct CitizenPrincipal {
    /// The registry's person id.
    pub person_id: String,
    /// The name exactly as registered.
    pub name: String,
    pub id_number_masked: String,
    pub session_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for CitizenPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CitizenPrincipal")
            .field("person_id", &self.person_id)
            .field("id_number_masked", &self.id_number_masked)
            .finish_non_exhaustive()
    }
}

impl CitizenPrincipal {
    /// The audit trail's view of this citizen acting from `client`.
    pub fn actor(&self, client: &Client) -> Actor {
        citizen_actor(&self.person_id, "citizen", client)
    }

    /// Whether a record of `person_id` is this citizen's own. Anything else
    /// must be answered as not found, so a citizen cannot even learn that
    /// someone else's record exists.
    pub fn owns(&self, person_id: &str) -> bool {
        self.person_id == person_id
    }
}

/// Whether `token` is a citizen token (by its prefix; says nothing about
/// whether its session is open).
pub fn is_citizen_token(token: &str) -> bool {
    token.trim().starts_with(CITIZEN_TOKEN_PREFIX)
}

fn citizen_actor(person_id: &str, role: &str, client: &Client) -> Actor {
    Actor {
        id: format!("person:{person_id}"),
        role: role.to_owned(),
        client_address: client.address.clone(),
    }
}

impl Services {
    /// Sends a one-time code to the mobile number on record, if the ID
    /// number is registered, the name is the registered one and a mobile
    /// number is on record; answers the same in every case (see the module
    /// documentation).
    ///
    /// # Errors
    ///
    /// `Invalid` for a malformed ID number or name (every problem at once);
    /// `TooManyRequests OTP_RATE_LIMITED` past the per-address limit;
    /// `Upstream SMS_SEND_FAILED` when the SMS gateway did not take the
    /// message (the code is withdrawn).
    pub async fn request_otp(
        &self,
        id_number: &str,
        name: &str,
        client: &Client,
    ) -> ServiceResult<OtpRequested> {
        let mut errors = Vec::new();
        let identity = parse_identity(id_number, name, &mut errors);
        let (Some((id_number, name)), true) = (identity, errors.is_empty()) else {
            return Err(invalid(errors));
        };
        let answer = OtpRequested {
            message: OTP_REQUESTED_MESSAGE,
            expires_in_seconds: seconds(OTP_LIFETIME),
            resend_after_seconds: seconds(OTP_RESEND_INTERVAL),
        };
        let now = Utc::now();

        // The per-address limit counts every request, whoever it names.
        let mut tx = self.store().begin().await?;
        let (requests, earliest) = attempts_since(
            &mut tx,
            &client.address,
            AttemptKind::OtpRequest,
            now - ADDRESS_OTP_WINDOW,
        )
        .await?;
        if requests >= ADDRESS_OTP_REQUESTS_ALLOWED {
            let retry = earliest.unwrap_or(now) + ADDRESS_OTP_WINDOW - now;
            return Err(ServiceError::TooManyRequests {
                code: "OTP_RATE_LIMITED",
                detail: format!(
                    "您所在网络获取验证码过于频繁，请 {} 分钟后再试。",
                    minutes_ceil(retry)
                ),
                retry_after_seconds: seconds(retry).max(1),
            });
        }
        record_attempt(&mut tx, &client.address, AttemptKind::OtpRequest, now).await?;
        commit(tx).await?;

        let Some(person) = self.person_by_id_number_row(&id_number).await? else {
            return Ok(answer);
        };
        let object = format!("person:{}", person.id);
        let anonymous = citizen_actor(&person.id, "-", client);
        let refusal = if person.name == name.as_str() {
            person.mobile_sealed.is_none().then_some("no_mobile")
        } else {
            Some("name_mismatch")
        };
        if let Some(reason) = refusal {
            let mut tx = self.store().begin().await?;
            self.record_audit(
                &mut tx,
                &anonymous,
                "citizen.otp_request",
                &object,
                Outcome::Refused,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
            commit(tx).await?;
            return Ok(answer);
        }
        let mobile = self.mobile_of(&person)?;

        // One code issue per person at a time (row lock on PostgreSQL).
        let mut tx = self.store().begin().await?;
        lock_person(&mut tx, &person.id).await?;
        let issued = codes_issued_since(&mut tx, &person.id, now - Duration::hours(1)).await?;
        let too_soon = issued
            .first()
            .is_some_and(|last| now - *last < OTP_RESEND_INTERVAL);
        if too_soon || issued.len() >= OTP_PER_HOUR {
            // Silently: a different answer would tell that this person exists.
            self.record_audit(
                &mut tx,
                &anonymous,
                "citizen.otp_request",
                &object,
                Outcome::Refused,
                serde_json::json!({ "reason": if too_soon { "resend_too_soon" } else { "hourly_limit" } }),
            )
            .await?;
            commit(tx).await?;
            return Ok(answer);
        }
        let code = generate_code();
        let code_id = uuid::Uuid::new_v4().to_string();
        let row = OtpRow {
            code_hash: self.code_hash(&person.id, &code_id, &code),
            id: code_id,
            person_id: person.id.clone(),
            created_at: now,
            expires_at: now + OTP_LIFETIME,
            attempts: 0,
            used_at: None,
            client_address: client.address.clone(),
        };
        insert_code(&mut tx, &row, now - OTP_RETENTION).await?;
        self.record_audit(
            &mut tx,
            &anonymous,
            "citizen.otp_request",
            &object,
            Outcome::Succeeded,
            serde_json::json!({ "code_id": row.id, "expires_in_seconds": seconds(OTP_LIFETIME) }),
        )
        .await?;
        commit(tx).await?;

        // Outside any transaction: the provider may take seconds.
        if let Err(error) = self.sms_gateway().send(&mobile, &otp_text(&code)).await {
            tracing::error!(target: "sms", %error, person = %person.id, "a one-time code could not be sent; it is withdrawn");
            let mut tx = self.store().begin().await?;
            delete_code(&mut tx, &row.id).await?;
            self.record_audit(
                &mut tx,
                &anonymous,
                "citizen.otp_send",
                &object,
                Outcome::Failed,
                serde_json::json!({ "code_id": row.id, "reason": "sms_gateway" }),
            )
            .await?;
            commit(tx).await?;
            return Err(ServiceError::Upstream {
                code: "SMS_SEND_FAILED",
                detail: "短信发送失败，验证码未能发出。请稍后重新获取；如仍有问题，请拨打 0772-7215670 咨询。".to_owned(),
            });
        }
        Ok(answer)
    }

    /// Signs a citizen in with ID number, name and the code just received.
    ///
    /// # Errors
    ///
    /// `Invalid` for malformed input; `Unauthorized OTP_INVALID` for any
    /// wrong combination (unknown person, other name, no code, wrong,
    /// used, expired or exhausted code); `TooManyRequests
    /// TOO_MANY_SIGN_IN_FAILURES` past the per-address limit.
    pub async fn sign_in_citizen(
        &self,
        id_number: &str,
        name: &str,
        code: &str,
        client: &Client,
    ) -> ServiceResult<CitizenSignedIn> {
        let mut errors = Vec::new();
        let identity = parse_identity(id_number, name, &mut errors);
        let code = parse_code(code);
        if code.is_none() {
            errors.push(FieldError::new(
                "code",
                "OTP_FORMAT",
                "验证码为短信中的 6 位数字，请核对后重新输入。",
            ));
        }
        let (Some((id_number, name)), Some(code), true) = (identity, code, errors.is_empty())
        else {
            return Err(invalid(errors));
        };
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let (failures, earliest) = attempts_since(
            &mut tx,
            &client.address,
            AttemptKind::SignInFailure,
            now - ADDRESS_FAILURE_WINDOW,
        )
        .await?;
        if failures >= ADDRESS_FAILURES_ALLOWED {
            let retry = earliest.unwrap_or(now) + ADDRESS_FAILURE_WINDOW - now;
            return Err(ServiceError::TooManyRequests {
                code: "TOO_MANY_SIGN_IN_FAILURES",
                detail: format!(
                    "来自您所在网络的登录失败次数过多，请 {} 分钟后再试。",
                    minutes_ceil(retry)
                ),
                retry_after_seconds: seconds(retry).max(1),
            });
        }
        let index = self
            .keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str());
        let Some(person) = person_by_index(&mut tx, &index).await? else {
            record_attempt(&mut tx, &client.address, AttemptKind::SignInFailure, now).await?;
            commit(tx).await?;
            return Err(otp_invalid());
        };
        if person.name != name.as_str() {
            return self
                .refuse_sign_in(
                    tx,
                    &person,
                    client,
                    serde_json::json!({ "reason": "name_mismatch" }),
                    now,
                )
                .await;
        }
        let latest = latest_code(&mut tx, &person.id).await?;
        let live = match &latest {
            None => Err("no_code"),
            Some(otp) if otp.used_at.is_some() => Err("code_used"),
            Some(otp) if otp.expires_at <= now => Err("code_expired"),
            Some(otp) if otp.attempts >= OTP_MAX_ATTEMPTS => Err("code_exhausted"),
            Some(otp) => Ok(otp),
        };
        let otp = match live {
            Ok(otp) => otp,
            Err(reason) => {
                return self
                    .refuse_sign_in(
                        tx,
                        &person,
                        client,
                        serde_json::json!({ "reason": reason }),
                        now,
                    )
                    .await;
            }
        };
        // Count the try before comparing, so parallel tries cannot exceed the limit.
        let Some(attempts) = spend_attempt(&mut tx, &otp.id, OTP_MAX_ATTEMPTS, now).await? else {
            return self
                .refuse_sign_in(
                    tx,
                    &person,
                    client,
                    serde_json::json!({ "reason": "code_spent" }),
                    now,
                )
                .await;
        };
        let given = self.code_hash(&person.id, &otp.id, &code);
        if !sscard_crypto::constant_time_eq(given.as_bytes(), otp.code_hash.as_bytes()) {
            return self
                .refuse_sign_in(
                    tx,
                    &person,
                    client,
                    serde_json::json!({ "reason": "code_wrong", "code_id": otp.id, "attempts": attempts }),
                    now,
                )
                .await;
        }
        if !mark_code_used(&mut tx, &otp.id, now).await? {
            return self
                .refuse_sign_in(
                    tx,
                    &person,
                    client,
                    serde_json::json!({ "reason": "code_used" }),
                    now,
                )
                .await;
        }
        let token = format!(
            "{CITIZEN_TOKEN_PREFIX}{}",
            hex::encode(sscard_crypto::random_bytes::<32>())
        );
        let expires_at = now + CITIZEN_SESSION_MAX_AGE;
        insert_citizen_session(
            &mut tx,
            &CitizenSessionRow {
                token_hash: token_hash(&token),
                person_id: person.id.clone(),
                client_address: client.address.clone(),
                created_at: now,
                last_seen_at: now,
                expires_at,
                revoked_at: None,
            },
        )
        .await?;
        let principal = principal_of(&person, expires_at);
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "citizen.sign_in",
            &format!("person:{}", person.id),
            Outcome::Succeeded,
            serde_json::json!({ "code_id": otp.id }),
        )
        .await?;
        commit(tx).await?;
        Ok(CitizenSignedIn {
            token,
            expires_at,
            principal,
        })
    }

    /// The citizen of a session token, if the session is open.
    ///
    /// # Errors
    ///
    /// `Unauthorized NOT_SIGNED_IN` for an unknown token (or a staff one),
    /// `SESSION_EXPIRED` for an ended session.
    pub async fn authenticate_citizen(&self, token: &str) -> ServiceResult<CitizenPrincipal> {
        let token = token.trim();
        if !is_citizen_token(token) {
            return Err(not_signed_in());
        }
        let now = Utc::now();
        let hash = token_hash(token);
        let mut conn = self.connection().await?;
        // One statement: the session and what is shown of its person.
        let (session, person) = citizen_session_with_person(&mut conn, &hash)
            .await?
            .ok_or_else(not_signed_in)?;
        let idle_expiry = session.last_seen_at + CITIZEN_SESSION_IDLE_TIMEOUT;
        if session.revoked_at.is_some() || session.expires_at <= now || idle_expiry <= now {
            return Err(ServiceError::Unauthorized {
                code: "SESSION_EXPIRED",
                detail: "登录已过期或已退出，请重新获取验证码登录。".to_owned(),
            });
        }
        // Restart the idle timer, at most once a minute per session.
        if now - session.last_seen_at > Duration::minutes(1) {
            touch_citizen_session(&mut conn, &hash, now).await?;
        }
        Ok(CitizenPrincipal {
            person_id: session.person_id,
            name: person.name,
            id_number_masked: person.id_number_masked,
            session_expires_at: session.expires_at,
        })
    }

    /// Ends the citizen session of `token`.
    pub async fn sign_out_citizen(
        &self,
        token: &str,
        principal: &CitizenPrincipal,
        client: &Client,
    ) -> ServiceResult<()> {
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        revoke_citizen_session(&mut tx, &token_hash(token.trim()), now).await?;
        self.record_audit(
            &mut tx,
            &principal.actor(client),
            "citizen.sign_out",
            &format!("person:{}", principal.person_id),
            Outcome::Succeeded,
            serde_json::json!({}),
        )
        .await?;
        commit(tx).await
    }

    /// Records a refused sign-in (counted against the client address,
    /// audited on the person) and answers `OTP_INVALID`.
    async fn refuse_sign_in<T>(
        &self,
        mut tx: Tx,
        person: &PersonRow,
        client: &Client,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> ServiceResult<T> {
        record_attempt(&mut tx, &client.address, AttemptKind::SignInFailure, now).await?;
        self.commit_refusal(
            tx,
            &citizen_actor(&person.id, "-", client),
            "citizen.sign_in",
            &format!("person:{}", person.id),
            detail,
            otp_invalid(),
        )
        .await
    }

    async fn person_by_id_number_row(
        &self,
        id_number: &IdNumber,
    ) -> ServiceResult<Option<PersonRow>> {
        let index = self
            .keyring()
            .blind_index(ID_NUMBER_INDEX, id_number.as_str());
        let mut conn = self.connection().await?;
        Ok(person_by_index(&mut conn, &index).await?)
    }

    fn mobile_of(&self, person: &PersonRow) -> ServiceResult<MobileNumber> {
        let sealed = person.mobile_sealed.as_deref().unwrap_or_default();
        let plain = self.open_sealed(sealed, &MOBILE_SEALED.aad(&person.id))?;
        MobileNumber::parse(&plain).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!(
                "person {} has a stored mobile number that does not parse: {}",
                person.id,
                e.code()
            ))
        })
    }

    fn code_hash(&self, person_id: &str, code_id: &str, code: &str) -> String {
        self.keyring()
            .blind_index(OTP_INDEX, &format!("{person_id}:{code_id}:{code}"))
    }
}

fn principal_of(person: &PersonRow, expires_at: DateTime<Utc>) -> CitizenPrincipal {
    CitizenPrincipal {
        person_id: person.id.clone(),
        name: person.name.clone(),
        id_number_masked: person.id_number_masked.clone(),
        session_expires_at: expires_at,
    }
}

/// Parses the ID number and the name, pushing every problem to `errors`.
fn parse_identity(
    id_number: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(IdNumber, PersonName)> {
    let id_number = IdNumber::parse(id_number)
        .map_err(|e| errors.push(FieldError::new("id_number", e.code(), e.to_string())))
        .ok();
    let name = PersonName::parse(name)
        .map_err(|e| errors.push(FieldError::new("name", e.code(), e.to_string())))
        .ok();
    id_number.zip(name)
}

/// Six digits, surrounding whitespace and full-width digits accepted.
fn parse_code(input: &str) -> Option<String> {
    let code: String = input
        .trim_matches(|c: char| c.is_whitespace())
        .chars()
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            other => other,
        })
        .collect();
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// A uniformly random 6-digit code: 32 random bits, rejecting the top
/// values that would make some codes likelier than others.
fn generate_code() -> String {
    // The largest multiple of 1,000,000 not above 2^32.
    const BOUND: u32 = 4_294_000_000;
    loop {
        let value = u32::from_be_bytes(sscard_crypto::random_bytes::<4>());
        if value < BOUND {
            return format!("{:06}", value % 1_000_000);
        }
    }
}

/// Sessions are found by the SM3 hash of their token.
fn token_hash(token: &str) -> String {
    sscard_crypto::sm3_hex(token.as_bytes())
}

fn otp_invalid() -> ServiceError {
    ServiceError::Unauthorized {
        code: "OTP_INVALID",
        detail: "验证码错误或已过期，请重新获取。".to_owned(),
    }
}

fn not_signed_in() -> ServiceError {
    ServiceError::Unauthorized {
        code: "NOT_SIGNED_IN",
        detail: "请先登录：输入身份证号码和姓名获取短信验证码，再以验证码登录。".to_owned(),
    }
}

fn invalid(errors: Vec<FieldError>) -> ServiceError {
    ServiceError::Invalid {
        code: "VALIDATION_FAILED",
        detail: "填写内容有误，请按提示修改后重试。".to_owned(),
        errors,
    }
}

fn seconds(duration: Duration) -> u64 {
    u64::try_from(duration.num_seconds()).unwrap_or(0)
}

fn minutes_ceil(duration: Duration) -> i64 {
    (duration.num_seconds().max(0) + 59) / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_spread_over_all_digits() {
        let mut seen = [0u32; 10];
        for _ in 0..2000 {
            let code = generate_code();
            assert_eq!(code.len(), 6, "{code}");
            for b in code.bytes() {
                assert!(b.is_ascii_digit(), "{code}");
                seen[usize::from(b - b'0')] += 1;
            }
        }
        // 12,000 digits: each should appear about 1,200 times.
        assert!(seen.iter().all(|n| (900..1500).contains(n)), "{seen:?}");
        assert_ne!(generate_code(), generate_code());
    }

    #[test]
    fn codes_parse_with_pasted_whitespace_and_full_width_digits() {
        assert_eq!(parse_code(" 012345 ").as_deref(), Some("012345"));
        assert_eq!(
            parse_code("\u{3000}０１２３４５").as_deref(),
            Some("012345")
        );
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("1234567"), None);
        assert_eq!(parse_code("12a456"), None);
        assert_eq!(parse_code("12 456"), None);
        assert_eq!(parse_code(""), None);
    }

    #[test]
    fn citizen_tokens_are_told_apart_by_their_prefix() {
        assert!(is_citizen_token("c_00ff"));
        assert!(is_citizen_token(" c_00ff "));
        assert!(!is_citizen_token(&hex::encode([7u8; 32])));
        assert!(!is_citizen_token(""));
    }
}
