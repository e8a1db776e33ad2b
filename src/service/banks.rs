//! Cooperating banks (合作银行): the registry administrators keep (code,
//! name, BINs, contact, the SM2 public key of the bank's system, status),
//! and the system-to-system interface's security — requests signed by the
//! bank, answers signed by the bureau. The scheme is documented for the
//! banks in `docs/bank-interface.md`.
//!
//! # Signed requests
//!
//! The bank signs with SM2 (user id `1234567812345678`) the canonical form
//! of its request ([`canonical_request`]): the method, the path with its
//! query, the bank code, the Unix timestamp, a nonce and the SM3 of the body.
//! [`Services::authenticate_bank_request`] refuses, each with its own code:
//! a request without the four headers (`BANK_SIGNATURE_MISSING`), an unknown
//! or suspended bank or one without a registered key, a timestamp more than
//! [`CLOCK_SKEW_SECONDS`] away from the server's clock (`BANK_REQUEST_STALE`),
//! a signature that does not verify over this request
//! (`BANK_SIGNATURE_INVALID`, also for a changed body), and a nonce seen
//! before (`BANK_REQUEST_REPLAYED`). Nonces live in the database
//! (`bank_nonces`), so every node sharing it refuses a replay; they are
//! kept while their timestamp is acceptable and pruned after.
//!
//! # Signed answers
//!
//! The bureau signs every answer to a signed request
//! ([`canonical_response`]: status, the request's nonce, a timestamp, the
//! SM3 of the answer's body) with its own SM2 key: from `[bank]
//! signing_key_file`, or generated on the first start and kept sealed in the
//! database so every node signs with the same key. Every key that ever
//! signed stays in `bank_keys` and is published at `GET
//! /api/v1/bank/server-key`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sscard_crypto::{Sm2PublicKey, Sm2SigningKey};
use sscard_domain::bank::{
    BankContact, BankName, BankStatus, BankValueError, BinPrefix, check_bins, parse_bins,
};
use sscard_domain::identifiers::CardNumber;
use sscard_domain::registry::BankCode;

use super::signing_keys::{self, LoadedKey};
use super::{Actor, FieldError, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::store::banks::{self as rows, BankRow};
use crate::store::signing_keys as signing_key_rows;

/// How far a request's timestamp may be from the server's clock, either way.
pub const CLOCK_SKEW_SECONDS: i64 = 300;
/// The first line of every signed request.
pub const REQUEST_PREFIX: &str = "SSCARD-BANK-SM2-V1";
/// The first line of every signed answer.
pub const RESPONSE_PREFIX: &str = "SSCARD-BANK-SM2-V1-RESPONSE";
/// The request headers of the scheme.
pub const HEADER_BANK: &str = "x-bank-code";
pub const HEADER_TIMESTAMP: &str = "x-timestamp";
pub const HEADER_NONCE: &str = "x-nonce";
pub const HEADER_SIGNATURE: &str = "x-signature";
/// The answer's extra header naming the bureau key that signed it.
pub const HEADER_KEY_ID: &str = "x-key-id";
/// How often a node prunes expired nonces.
const PRUNE_EVERY_SECONDS: i64 = 60;

/// The canonical form of a request that the bank signs:
///
/// ```text
/// SSCARD-BANK-SM2-V1 LF
/// <METHOD> LF
/// <path, with "?" and the query when there is one, exactly as sent> LF
/// <bank code> LF
/// <timestamp: Unix seconds> LF
/// <nonce> LF
/// <SM3 of the body bytes, lowercase hex (of the empty string without a body)>
/// ```
///
/// (no LF after the last line).
#[must_use]
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    bank_code: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{REQUEST_PREFIX}\n{}\n{path_and_query}\n{bank_code}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        sscard_crypto::sm3_hex(body)
    )
}

/// The canonical form of an answer that the bureau signs:
///
/// ```text
/// SSCARD-BANK-SM2-V1-RESPONSE LF
/// <HTTP status, 3 digits> LF
/// <the request's X-Nonce> LF
/// <timestamp: Unix seconds, the answer's X-Timestamp> LF
/// <SM3 of the answer's body bytes, lowercase hex>
/// ```
#[must_use]
pub fn canonical_response(
    status: u16,
    request_nonce: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    format!(
        "{RESPONSE_PREFIX}\n{status}\n{request_nonce}\n{timestamp}\n{}",
        sscard_crypto::sm3_hex(body)
    )
}

/// Whether a nonce is acceptable: 16 to 64 of `A-Z a-z 0-9 - _`.
#[must_use]
pub fn is_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Decodes a signature header: the hex of `r ‖ s` (128 characters), or the
/// hex of its ASN.1 DER form (what OpenSSL writes).
#[must_use]
pub fn decode_signature(text: &str) -> Option<Vec<u8>> {
    let bytes = hex::decode(text.trim()).ok()?;
    match bytes.len() {
        64 => Some(bytes),
        _ if bytes.first() == Some(&0x30) => sscard_crypto::sm2_signature_from_der(&bytes),
        _ => None,
    }
}

/// The worked example of `docs/bank-interface.md`, reproduced by `sscard
/// bank sign-example` and checked by a test: a published **test** key pair
/// (never register it for a real bank), a request, its canonical form, the
/// SM3 of its body and its signature (SM2 signing here is deterministic, so
/// the signature is the same on every machine).
pub mod example {
    /// The test bank's SM2 private key (made with `openssl genpkey
    /// -algorithm SM2`). Public: for tests and the worked example only.
    pub const TEST_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgyt42Bs3/lZqtNhVT
P9b5EpAT44AXmKGhLBnYWjlpvl6hRANCAATGTSHde9JHx1aXY6WS84arfiX4fT19
TNs76Nso0RUjW5+TWlU0oy9zdc+oDqjKVwN4eV4NfdPxca8AsxfVA2jJ
-----END PRIVATE KEY-----
";
    /// Its public key, as the administrator registers it for the bank.
    pub const TEST_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAExk0h3XvSR8dWl2OlkvOGq34l+H09
fUzbO+jbKNEVI1ufk1pVNKMvc3XPqA6oylcDeHleDX3T8XGvALMX1QNoyQ==
-----END PUBLIC KEY-----
";
    pub const METHOD: &str = "POST";
    pub const PATH: &str = "/api/v1/bank/activations";
    pub const BANK: &str = "ICBC";
    /// 2026-11-27T10:00:00+08:00.
    pub const TIMESTAMP: &str = "1795744800";
    pub const NONCE: &str = "5f3c9a1e7b2d4c6e8a0f1b3d";
    pub const BODY: &str = r#"{"card_number":"A12345678","id_number":"45022119850612723X","holder_present":true,"id_verified_by":"card_reader","teller":"0421"}"#;

    /// The example's canonical request, SM3 of the body and signature.
    #[derive(Clone, Debug)]
    pub struct Worked {
        pub body_sm3: String,
        pub canonical: String,
        pub canonical_sm3: String,
        pub signature: String,
    }

    /// Computes the worked example.
    ///
    /// # Panics
    ///
    /// Never: the test key is a valid SM2 key.
    #[must_use]
    pub fn worked() -> Worked {
        let key = sscard_crypto::Sm2SigningKey::from_pem(TEST_PRIVATE_KEY_PEM)
            .expect("the published test key reads");
        let canonical =
            super::canonical_request(METHOD, PATH, BANK, TIMESTAMP, NONCE, BODY.as_bytes());
        Worked {
            body_sm3: sscard_crypto::sm3_hex(BODY.as_bytes()),
            canonical_sm3: sscard_crypto::sm3_hex(canonical.as_bytes()),
            signature: hex::encode(key.sign(canonical.as_bytes())),
            canonical,
        }
    }
}

// ---------------------------------------------------------------------------
// Settings and state
// ---------------------------------------------------------------------------

/// How the bank interface is set up (`[bank]`).
#[derive(Clone, Debug, Default)]
pub struct BankSettings {
    /// A PEM file with the bureau's SM2 private key that signs answers to
    /// banks (`[bank] signing_key_file`); without it a key is generated and
    /// kept sealed in the database.
    pub signing_key_file: Option<PathBuf>,
}

/// The answer-signing key in use, read once per process.
#[derive(Debug)]
pub struct BankSigner {
    key: Sm2SigningKey,
    key_id: String,
}

impl BankSigner {
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The signature (hex of `r ‖ s`) of a canonical answer.
    pub fn sign(&self, canonical: &str) -> String {
        hex::encode(self.key.sign(canonical.as_bytes()))
    }
}

/// The bank interface's part of [`Services`].
#[derive(Debug)]
pub struct BankState {
    settings: BankSettings,
    signer: tokio::sync::OnceCell<Arc<BankSigner>>,
    /// Unix seconds of this node's last nonce pruning.
    last_prune: AtomicI64,
}

impl BankState {
    #[must_use]
    pub fn new(settings: BankSettings) -> Self {
        Self {
            settings,
            signer: tokio::sync::OnceCell::new(),
            last_prune: AtomicI64::new(0),
        }
    }
}

impl Default for BankState {
    fn default() -> Self {
        Self::new(BankSettings::default())
    }
}

// ---------------------------------------------------------------------------
// Input and views
// ---------------------------------------------------------------------------

/// A bank as an administrator enters it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankInput {
    /// 银行代码, 2–20 letters, digits or `_`, e.g. `ICBC` (not changeable later).
    #[serde(default)]
    pub code: String,
    /// 银行名称.
    pub name: String,
    /// The BIN prefixes of its social security card accounts, e.g.
    /// `["621226", "622202"]`.
    pub bins: Vec<String>,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_phone: String,
    /// The SM2 public key of the bank's system (SPKI PEM or the hex of
    /// `04 ‖ x ‖ y`); blank = the bank's system may not call the API.
    #[serde(default)]
    pub api_public_key: Option<String>,
    /// `active` (default) or `suspended`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A checked bank.
#[derive(Clone, Debug)]
pub struct BankRecord {
    pub code: BankCode,
    pub name: BankName,
    pub bins: Vec<BinPrefix>,
    pub contact: BankContact,
    pub api_public_key: Option<Sm2PublicKey>,
    pub status: BankStatus,
}

impl BankInput {
    /// Checks every field and lists every problem at once.
    ///
    /// # Errors
    ///
    /// `Invalid VALIDATION_FAILED` with a [`FieldError`] per field at fault.
    pub fn parse(&self) -> ServiceResult<BankRecord> {
        let mut errors = Vec::new();
        let field = |name: &str, error: &BankValueError| {
            FieldError::new(name, error.code(), error.to_string())
        };
        let code = BankCode::parse(&self.code)
            .map_err(|e| errors.push(FieldError::new("code", e.code(), e.to_string())))
            .ok();
        let name = BankName::parse(&self.name)
            .map_err(|e| errors.push(field("name", &e)))
            .ok();
        let bins = parse_bins(&self.bins.join(","))
            .map_err(|e| errors.push(field("bins", &e)))
            .ok();
        let contact = BankContact::parse(&self.contact_name, &self.contact_phone)
            .map_err(|e| errors.push(field("contact_name", &e)))
            .ok();
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => Some(BankStatus::Active),
            Some(status) => BankStatus::parse(status)
                .map_err(|e| errors.push(field("status", &e)))
                .ok(),
        };
        let api_public_key = match self.api_public_key.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(text) => match sscard_crypto::sm2_public_key_parse(text) {
                Some(key) => Some(Some(key)),
                None => {
                    errors.push(FieldError::new(
                        "api_public_key",
                        "BANK_KEY_FORMAT",
                        "银行系统公钥应为 SM2 公钥：PEM 格式（-----BEGIN PUBLIC KEY-----，可由 openssl pkey -pubout 导出）或 04 开头的 130 位十六进制。",
                    ));
                    None
                }
            },
        };
        match (code, name, bins, contact, status, api_public_key) {
            (Some(code), Some(name), Some(bins), Some(contact), Some(status), Some(key))
                if errors.is_empty() =>
            {
                Ok(BankRecord {
                    code,
                    name,
                    bins,
                    contact,
                    api_public_key: key,
                    status,
                })
            }
            _ => Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "合作银行信息有误，请按提示修改后重新提交。".to_owned(),
                errors,
            }),
        }
    }
}

/// A bank as administrators and pages see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BankView {
    pub code: String,
    pub name: String,
    pub bins: Vec<String>,
    pub contact_name: String,
    pub contact_phone: String,
    /// `active` or `suspended`.
    pub status: String,
    /// 合作中 / 暂停合作.
    pub status_label: String,
    /// The registered SM2 public key of the bank's system (SPKI PEM), if any.
    pub api_public_key: Option<String>,
    /// Its id (first 16 hex of the SM3 of its point), to compare by phone.
    pub api_key_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn bank_view(row: &BankRow) -> BankView {
    let status = BankStatus::parse(&row.status).unwrap_or(BankStatus::Suspended);
    BankView {
        code: row.code.clone(),
        name: row.name.clone(),
        bins: row.bins.clone(),
        contact_name: row.contact_name.clone(),
        contact_phone: row.contact_phone.clone(),
        status: status.code().to_owned(),
        status_label: status.label_zh().to_owned(),
        api_public_key: row.api_public_key.clone(),
        api_key_id: row.api_key_id.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The bank system behind a verified signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankCaller {
    pub bank: BankCode,
    /// The request's nonce (the signed answer repeats it).
    pub nonce: String,
}

impl BankCaller {
    /// The audit trail's view of the bank's system.
    pub fn actor(&self, client_address: &str) -> Actor {
        Actor {
            id: format!("bank:{}", self.bank.as_str()),
            role: "bank_system".to_owned(),
            client_address: client_address.to_owned(),
        }
    }
}

/// What a bank system sent, for [`Services::authenticate_bank_request`].
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    pub bank_code: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// One of the bureau's answer-signing public keys.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServerKeyView {
    /// First 16 hex of the SM3 of the point: the answers' `X-Key-Id`.
    pub key_id: String,
    /// SPKI PEM.
    pub public_key_pem: String,
    /// SEC1 uncompressed point `04 ‖ x ‖ y`, hex.
    pub public_key_hex: String,
    /// `generated` (kept sealed in the database) or `file`.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// The keys that verify the bureau's answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ServerKeys {
    /// The key signing answers now.
    pub current: ServerKeyView,
    /// Keys that signed earlier answers.
    pub earlier: Vec<ServerKeyView>,
    /// How answers are signed.
    pub scheme: String,
}

/// A card whose account the bank refused, for staff to follow up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectionView {
    pub card_number: String,
    pub holder_name: String,
    /// e.g. `450221********723X`.
    pub holder_id_number_masked: String,
    /// The bank's reason code, e.g. `AML_REVIEW_FAILED`.
    pub code: String,
    /// The documented code's Chinese label, when it is one.
    pub code_label: Option<String>,
    /// The bank's own words.
    pub text: String,
    /// The export batch the card was sent in.
    pub export_batch_no: String,
    pub returned_at: DateTime<Utc>,
}

/// 重新报送 request: the card and what staff did about the bank's reason.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RequeueInput {
    /// The social security card number, e.g. `L12345678`.
    pub card_number: String,
    /// What was done about the bank's reason (2 – 200 characters), e.g.
    /// `持卡人已到窗口更正姓名，请银行重新开户`; kept in the audit trail.
    pub note: String,
}

/// The longest note of a re-queue, in characters.
pub const MAX_REQUEUE_NOTE: usize = 200;

impl RequeueInput {
    fn parse(&self) -> ServiceResult<(String, String)> {
        let mut errors = Vec::new();
        let card_number = match CardNumber::parse(&self.card_number) {
            Ok(number) => Some(number.as_str().to_owned()),
            Err(error) => {
                errors.push(FieldError::new(
                    "card_number",
                    error.code(),
                    format!("社会保障卡号：{error}"),
                ));
                None
            }
        };
        let note = self.note.trim();
        let length = note.chars().count();
        if !(2..=MAX_REQUEUE_NOTE).contains(&length) || note.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "note",
                "NOTE_INVALID",
                format!(
                    "请写明跟进处理情况（2 至 {MAX_REQUEUE_NOTE} 个字，不含换行等控制字符），例如“持卡人已更正姓名，请银行重新开户”。"
                ),
            ));
        }
        match card_number {
            Some(card_number) if errors.is_empty() => Ok((card_number, note.to_owned())),
            _ => Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "重新报送的信息有误，请按提示修改后重新提交。".to_owned(),
                errors,
            }),
        }
    }
}

/// A card put back for the next export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RequeueView {
    pub bank: String,
    /// e.g. `L1234****`.
    pub card_number_masked: String,
    /// `requeued`: in the next export file of the bank.
    pub status: String,
    /// The bank's reason it was rejected for.
    pub rejection_code: String,
    pub note: String,
}

/// One batch file exchanged with a bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub batch_no: String,
    /// `export` (报送) or `return` (回盘).
    pub kind: String,
    /// export: `claiming`, `claimed`, `written`; return: `applying`, `applied`.
    pub state: String,
    pub records: i64,
    /// Return files: accepted, rejected and not applied records.
    pub accepted: i64,
    pub rejected: i64,
    pub refused: i64,
    /// Export files: how many times written (1 + re-sends).
    pub sends: i64,
    /// SM3 of the file before its trailer.
    pub digest: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Where a bank's cards stand in the batch exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExchangeView {
    /// New cards not sent yet.
    pub awaiting_export: i64,
    /// Sent, no answer yet.
    pub exported: i64,
    /// Account opened and registered.
    pub accepted: i64,
    /// Refused by the bank (to follow up).
    pub rejected: i64,
    /// Rejected, followed up and put back for the next export (重新报送);
    /// counted in `awaiting_export` too.
    pub requeued: i64,
    /// The latest batches, newest first.
    pub batches: Vec<BatchView>,
}

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

fn bank_not_found(code: &str) -> ServiceError {
    ServiceError::NotFound {
        code: "BANK_NOT_FOUND",
        detail: format!("未找到代码为 {code} 的合作银行，请核对银行代码。"),
    }
}

impl Services {
    /// The bank interface's state (settings and the loaded key).
    pub fn bank_state(&self) -> &BankState {
        &self.banks
    }

    /// Every cooperating bank, by code.
    ///
    /// # Errors
    ///
    /// The database fails.
    pub async fn list_banks(&self) -> ServiceResult<Vec<BankView>> {
        let mut conn = self.connection().await?;
        Ok(rows::banks(&mut conn)
            .await?
            .iter()
            .map(bank_view)
            .collect())
    }

    /// One bank.
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`.
    pub async fn bank(&self, code: &str) -> ServiceResult<BankView> {
        let code = BankCode::parse(code).map_err(|_| bank_not_found(code))?;
        let mut conn = self.connection().await?;
        rows::bank(&mut conn, code.as_str())
            .await?
            .as_ref()
            .map(bank_view)
            .ok_or_else(|| bank_not_found(code.as_str()))
    }

    /// The cards of a bank whose account the bank refused (newest first, at
    /// most 500), for staff to follow up.
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`.
    pub async fn bank_rejections(&self, code: &str) -> ServiceResult<Vec<RejectionView>> {
        let bank = self.bank(code).await?;
        let mut conn = self.connection().await?;
        Ok(rows::rejections(&mut conn, &bank.code, 500)
            .await?
            .into_iter()
            .map(|row| RejectionView {
                code_label: sscard_domain::bank::RejectionCode::parse(&row.rejection_code)
                    .and_then(|code| code.label_zh())
                    .map(str::to_owned),
                card_number: row.card_number,
                holder_name: row.holder_name,
                holder_id_number_masked: row.holder_id_masked,
                code: row.rejection_code,
                text: row.rejection_text,
                export_batch_no: row.export_batch_no,
                returned_at: row.returned_at,
            })
            .collect())
    }

    /// Cards in the batch exchange by bank and status, for `/metrics`.
    ///
    /// # Errors
    ///
    /// The database fails.
    pub async fn bank_exchange_counts(&self) -> ServiceResult<Vec<(String, String, i64)>> {
        let mut conn = self.connection().await?;
        Ok(rows::exchange_counts(&mut conn).await?)
    }

    /// Where a bank's cards stand in the batch exchange, with its latest
    /// batches.
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`.
    pub async fn bank_exchange(&self, code: &str) -> ServiceResult<ExchangeView> {
        let bank = self.bank(code).await?;
        let mut conn = self.connection().await?;
        let counts = rows::exchange_counts(&mut conn).await?;
        let count = |status: &str| {
            counts
                .iter()
                .find(|(b, s, _)| *b == bank.code && s == status)
                .map_or(0, |(_, _, n)| *n)
        };
        Ok(ExchangeView {
            awaiting_export: rows::count_awaiting_export(&mut conn, &bank.code).await?,
            exported: count("exported"),
            accepted: count("accepted"),
            rejected: count("rejected"),
            requeued: count("requeued"),
            batches: rows::recent_batches(&mut conn, &bank.code, 20)
                .await?
                .into_iter()
                .map(|row| BatchView {
                    batch_no: row.batch_no,
                    kind: row.kind,
                    state: row.state,
                    records: row.record_count,
                    accepted: row.accepted,
                    rejected: row.rejected,
                    refused: row.refused,
                    sends: row.sends,
                    digest: row.body_sm3,
                    created_at: row.created_at,
                    completed_at: row.completed_at,
                })
                .collect(),
        })
    }

    /// 重新报送 — a card the bank refused to open an account for, followed up
    /// by staff (the holder corrected their data, the bank asked for it
    /// again …), goes back in the queue of the bank's next export file
    /// (`bank.rejection.requeue`, with what was done and the bank's reason,
    /// which the exchange row forgets at that export).
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`; `Invalid VALIDATION_FAILED` (card number,
    /// note); `NotFound CARD_NOT_FOUND` (no such card of this bank);
    /// `Conflict NOT_REJECTED` (not on the follow-up list: never exported,
    /// waiting for the bank, accepted or already re-queued),
    /// `Conflict CARD_CANCELLED`, `Conflict ALREADY_ACTIVE` (the holder has
    /// since activated the financial function or an account is registered).
    pub async fn requeue_rejected_card(
        &self,
        code: &str,
        input: &RequeueInput,
        actor: &Actor,
    ) -> ServiceResult<RequeueView> {
        let bank = self.bank(code).await?;
        let (card_number, note) = input.parse()?;
        let mut tx = self.store().begin().await?;
        let card = rows::exchange_cards(&mut tx, std::slice::from_ref(&card_number))
            .await?
            .into_iter()
            .find(|card| card.bank_code == bank.code)
            .ok_or_else(|| ServiceError::NotFound {
                code: "CARD_NOT_FOUND",
                detail: format!(
                    "{}没有卡号为 {card_number} 的社会保障卡，请核对卡号。",
                    bank.name
                ),
            })?;
        if card.status.as_deref() != Some("rejected") {
            let now = match card.status.as_deref() {
                None => "尚未报送给银行",
                Some("exported") => "已报送，正在等待银行回盘",
                Some("accepted") => "银行已开户成功",
                Some("requeued") => "已重新报送，将随下一批报送文件发出",
                Some(_) => "不在待跟进名单中",
            };
            return Err(ServiceError::Conflict {
                code: "NOT_REJECTED",
                detail: format!("此卡{now}，无需重新报送；请刷新页面查看最新情况。"),
            });
        }
        if card.social_state == "cancelled" {
            return Err(ServiceError::Conflict {
                code: "CARD_CANCELLED",
                detail: "此卡已注销，不能重新报送；持卡人应先补换卡。".to_owned(),
            });
        }
        if card.financial_state != "not_activated" || card.bank_account_sealed.is_some() {
            return Err(ServiceError::Conflict {
                code: "ALREADY_ACTIVE",
                detail: "此卡金融功能已激活或已登记银行账号，无需重新报送。".to_owned(),
            });
        }
        if !rows::mark_requeued(&mut tx, &card.card_id).await? {
            return Err(ServiceError::Conflict {
                code: "NOT_REJECTED",
                detail: "此卡刚被他人处理过，请刷新页面查看最新情况。".to_owned(),
            });
        }
        let masked = CardNumber::parse(&card.card_number)
            .map_or_else(|_| "****".to_owned(), |number| number.masked());
        self.record_audit(
            &mut tx,
            actor,
            "bank.rejection.requeue",
            &format!("card:{}", card.card_id),
            Outcome::Succeeded,
            serde_json::json!({
                "bank": bank.code,
                "card_number": masked,
                "export_batch": card.export_batch_no,
                "rejection_code": card.rejection_code,
                "rejection_text": card.rejection_text,
                "note": note,
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(RequeueView {
            bank: bank.code,
            card_number_masked: masked,
            status: "requeued".to_owned(),
            rejection_code: card.rejection_code.unwrap_or_default(),
            note,
        })
    }

    /// Registers a new cooperating bank (`bank.create`).
    ///
    /// # Errors
    ///
    /// `Invalid` with every field problem (including a BIN of another bank,
    /// `BIN_TAKEN`); `Conflict BANK_ALREADY_REGISTERED`.
    pub async fn create_bank(&self, input: &BankInput, actor: &Actor) -> ServiceResult<BankView> {
        let record = input.parse()?;
        self.save_bank(&record, actor, true).await
    }

    /// Changes a bank (`bank.update`): name, BINs, contact, key, status; the
    /// code in the path wins over any code in the body.
    ///
    /// # Errors
    ///
    /// `NotFound BANK_NOT_FOUND`; `Invalid` as [`Services::create_bank`].
    pub async fn update_bank(
        &self,
        code: &str,
        input: &BankInput,
        actor: &Actor,
    ) -> ServiceResult<BankView> {
        let code = BankCode::parse(code).map_err(|_| bank_not_found(code))?;
        let input = BankInput {
            code: code.as_str().to_owned(),
            ..input.clone()
        };
        let record = input.parse()?;
        self.save_bank(&record, actor, false).await
    }

    async fn save_bank(
        &self,
        record: &BankRecord,
        actor: &Actor,
        create: bool,
    ) -> ServiceResult<BankView> {
        let mut tx = self.store().begin().await?;
        rows::lock_registry(&mut tx).await?;
        let existing = rows::bank(&mut tx, record.code.as_str()).await?;
        match (&existing, create) {
            (Some(_), true) => {
                return Err(ServiceError::Conflict {
                    code: "BANK_ALREADY_REGISTERED",
                    detail: format!(
                        "银行代码 {} 已登记，如需修改请打开该银行的页面。",
                        record.code
                    ),
                });
            }
            (None, false) => return Err(bank_not_found(record.code.as_str())),
            _ => {}
        }
        let others: Vec<(BankCode, BinPrefix)> = rows::all_bins(&mut tx)
            .await?
            .into_iter()
            .filter_map(|(bank, bin)| {
                Some((BankCode::parse(&bank).ok()?, BinPrefix::parse(&bin).ok()?))
            })
            .collect();
        if let Err(error) = check_bins(
            &record.code,
            &record.bins,
            others.iter().map(|(bank, bin)| (bank, bin)),
        ) {
            return Err(ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "合作银行信息有误，请按提示修改后重新提交。".to_owned(),
                errors: vec![FieldError::new("bins", error.code(), error.to_string())],
            });
        }
        let now = Utc::now();
        let row = BankRow {
            code: record.code.as_str().to_owned(),
            name: record.name.as_str().to_owned(),
            contact_name: record.contact.name.clone(),
            contact_phone: record.contact.phone.clone(),
            api_public_key: record.api_public_key.as_ref().map(Sm2PublicKey::to_pem),
            api_key_id: record.api_public_key.as_ref().map(Sm2PublicKey::key_id),
            status: record.status.code().to_owned(),
            bins: record.bins.iter().map(|b| b.as_str().to_owned()).collect(),
            created_at: existing.as_ref().map_or(now, |bank| bank.created_at),
            updated_at: now,
        };
        rows::save_bank(&mut tx, &row).await?;
        self.record_audit(
            &mut tx,
            actor,
            if create { "bank.create" } else { "bank.update" },
            &format!("bank:{}", row.code),
            Outcome::Succeeded,
            serde_json::json!({
                "name": row.name,
                "bins": row.bins,
                "status": row.status,
                "api_key_id": row.api_key_id,
                "previous_status": existing.as_ref().map(|bank| bank.status.clone()),
                "previous_api_key_id": existing.as_ref().and_then(|bank| bank.api_key_id.clone()),
            }),
        )
        .await?;
        commit(tx).await?;
        Ok(bank_view(&row))
    }

    /// Registers the four cooperating banks of the demo data (ICBC, ABC,
    /// CCB, BOC) with their real social security card BINs, inside the demo
    /// seed's transaction. ICBC gets the published test key of
    /// `docs/bank-interface.md`, so the signed interface can be tried on a
    /// demo server (demo only: never register that key for a real bank).
    pub(crate) async fn seed_demo_banks(&self, tx: &mut crate::store::Tx) -> ServiceResult<usize> {
        let now = Utc::now();
        let test_key = sscard_crypto::sm2_public_key_parse(example::TEST_PUBLIC_KEY_PEM);
        let mut seeded = 0;
        for bank in crate::demo::BANKS {
            let (second_bin, contact, phone) = match bank.code {
                "ICBC" => ("622202", "覃经理（个人金融部）", "0772-7212301"),
                "ABC" => ("622845", "韦经理（个人金融部）", "0772-7212302"),
                "CCB" => ("622700", "黄经理（个人金融部）", "0772-7212303"),
                _ => ("621785", "莫经理（个人金融部）", "0772-7212304"),
            };
            let mut bins = vec![bank.bin.to_owned(), second_bin.to_owned()];
            bins.sort();
            let key = (bank.code == "ICBC").then_some(test_key.as_ref()).flatten();
            let row = BankRow {
                code: bank.code.to_owned(),
                name: format!("{}柳州分行", bank.name),
                contact_name: contact.to_owned(),
                contact_phone: phone.to_owned(),
                api_public_key: key.map(Sm2PublicKey::to_pem),
                api_key_id: key.map(Sm2PublicKey::key_id),
                status: BankStatus::Active.code().to_owned(),
                bins,
                created_at: now,
                updated_at: now,
            };
            rows::save_bank(tx, &row).await?;
            seeded += 1;
        }
        // The demo seed's own audit entry covers its whole transaction.
        Ok(seeded)
    }

    /// A card's bank account must be one its bank issues: the account's
    /// BIN must be one of the bank's registered BINs ([`check_account_bank`]
    /// of the domain). Called wherever an account is set on a card
    /// (registration, import). A bank not in the registry, or registered
    /// without BINs, cannot be checked and is let through.
    ///
    /// # Errors
    ///
    /// `Invalid` with the field `bank_account`, code `ACCOUNT_BIN_MISMATCH`.
    ///
    /// [`check_account_bank`]: sscard_domain::bank::check_account_bank
    pub(crate) async fn check_card_account_bin(
        &self,
        tx: &mut crate::store::Tx,
        bank: &BankCode,
        account: Option<&sscard_domain::identifiers::BankCardNumber>,
    ) -> ServiceResult<()> {
        let Some(account) = account else {
            return Ok(());
        };
        let Some(row) = rows::bank(tx, bank.as_str()).await? else {
            return Ok(());
        };
        let bins: Vec<BinPrefix> = row
            .bins
            .iter()
            .filter_map(|bin| BinPrefix::parse(bin).ok())
            .collect();
        if bins.is_empty() {
            return Ok(());
        }
        sscard_domain::bank::check_account_bank(account, bank, &bins).map_err(|mismatch| {
            ServiceError::Invalid {
                code: "VALIDATION_FAILED",
                detail: "银行账号与合作银行不符。".to_owned(),
                errors: vec![FieldError::new(
                    "bank_account",
                    mismatch.code(),
                    mismatch.to_string(),
                )],
            }
        })
    }

    /// Checks a bank system's signed request (see the module docs) and
    /// records its nonce.
    ///
    /// # Errors
    ///
    /// `Unauthorized` with `BANK_SIGNATURE_MISSING`, `BANK_UNKNOWN`,
    /// `BANK_KEY_NOT_REGISTERED`, `BANK_TIMESTAMP_INVALID`,
    /// `BANK_REQUEST_STALE`, `BANK_NONCE_INVALID`, `BANK_SIGNATURE_INVALID`
    /// or `BANK_REQUEST_REPLAYED`; `Forbidden BANK_SUSPENDED`.
    pub async fn authenticate_bank_request(
        &self,
        request: &SignedRequest<'_>,
    ) -> ServiceResult<BankCaller> {
        let unauthorized =
            |code: &'static str, detail: String| ServiceError::Unauthorized { code, detail };
        let (Some(bank_code), Some(timestamp), Some(nonce), Some(signature)) = (
            request.bank_code,
            request.timestamp,
            request.nonce,
            request.signature,
        ) else {
            return Err(unauthorized(
                "BANK_SIGNATURE_MISSING",
                "银行系统的请求须带 X-Bank-Code、X-Timestamp、X-Nonce、X-Signature 四个请求头（SM2 签名，见接口文档 docs/bank-interface.md）。".to_owned(),
            ));
        };
        let now = Utc::now();
        let stamp: i64 = timestamp.trim().parse().map_err(|_| {
            unauthorized(
                "BANK_TIMESTAMP_INVALID",
                "X-Timestamp 应为 Unix 时间戳（自 1970-01-01T00:00:00Z 起的秒数，十进制整数）。"
                    .to_owned(),
            )
        })?;
        if (now.timestamp() - stamp).abs() > CLOCK_SKEW_SECONDS {
            return Err(unauthorized(
                "BANK_REQUEST_STALE",
                format!(
                    "请求时间戳与服务器时间相差超过 {} 分钟（服务器时间 {}）：请校准银行系统的时钟后重新生成请求（每次请求须使用新的时间戳和随机数）。",
                    CLOCK_SKEW_SECONDS / 60,
                    now.timestamp()
                ),
            ));
        }
        if !is_nonce(nonce) {
            return Err(unauthorized(
                "BANK_NONCE_INVALID",
                "X-Nonce 应为 16 至 64 位英文字母、数字、连字符或下划线，每个请求使用新的随机值。"
                    .to_owned(),
            ));
        }
        let bank = BankCode::parse(bank_code).map_err(|_| {
            unauthorized(
                "BANK_UNKNOWN",
                "X-Bank-Code 不是已登记的合作银行代码。".to_owned(),
            )
        })?;
        let mut conn = self.connection().await?;
        let row = rows::bank(&mut conn, bank.as_str()).await?.ok_or_else(|| {
            unauthorized(
                "BANK_UNKNOWN",
                format!("{} 不是已登记的合作银行代码。", bank.as_str()),
            )
        })?;
        let key = row
            .api_public_key
            .as_deref()
            .and_then(sscard_crypto::sm2_public_key_parse)
            .ok_or_else(|| {
                unauthorized(
                    "BANK_KEY_NOT_REGISTERED",
                    format!(
                        "{} 尚未登记银行系统的 SM2 公钥，请联系人力资源和社会保障局系统管理员登记后再调用接口。",
                        bank.as_str()
                    ),
                )
            })?;
        let canonical = canonical_request(
            request.method,
            request.path_and_query,
            bank.as_str(),
            timestamp.trim(),
            nonce,
            request.body,
        );
        let verified = decode_signature(signature)
            .is_some_and(|signature| key.verify(canonical.as_bytes(), &signature));
        if !verified {
            return Err(unauthorized(
                "BANK_SIGNATURE_INVALID",
                "签名验证失败：请用本行登记的 SM2 私钥（用户标识 1234567812345678）对规范请求串签名，规范请求串须与实际发送的方法、路径、时间戳、随机数和请求体完全一致（见接口文档）。".to_owned(),
            ));
        }
        if BankStatus::parse(&row.status) != Ok(BankStatus::Active) {
            return Err(ServiceError::Forbidden {
                code: "BANK_SUSPENDED",
                detail: format!(
                    "{} 与人力资源和社会保障局的合作已暂停，暂不受理其系统的请求。",
                    row.name
                ),
            });
        }
        self.prune_nonces_now_and_then(&mut conn, now).await;
        let expires = chrono::DateTime::from_timestamp(stamp + CLOCK_SKEW_SECONDS, 0)
            .unwrap_or(now)
            .max(now);
        if !rows::record_nonce(&mut conn, bank.as_str(), nonce, expires).await? {
            return Err(unauthorized(
                "BANK_REQUEST_REPLAYED",
                "此随机数（X-Nonce）已被使用过：同一请求不能重复提交，请用新的随机数和时间戳重新签名。".to_owned(),
            ));
        }
        Ok(BankCaller {
            bank,
            nonce: nonce.to_owned(),
        })
    }

    /// Prunes expired nonces at most once a minute per node; a failure is
    /// only logged (the next request tries again).
    async fn prune_nonces_now_and_then(&self, conn: &mut sqlx::AnyConnection, now: DateTime<Utc>) {
        let last = self.banks.last_prune.load(Ordering::Relaxed);
        if now.timestamp() - last < PRUNE_EVERY_SECONDS
            || self
                .banks
                .last_prune
                .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match rows::prune_nonces(conn, now).await {
            Ok(pruned) if pruned > 0 => tracing::debug!(pruned, "pruned expired bank nonces"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot prune expired bank nonces"),
        }
    }

    /// Signs a canonical answer with the bureau's key.
    ///
    /// # Errors
    ///
    /// The key cannot be loaded.
    pub async fn bank_signer(&self) -> ServiceResult<Arc<BankSigner>> {
        let signer = self
            .banks
            .signer
            .get_or_try_init(|| async { self.load_bank_signer().await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(signer))
    }

    /// The keys that verify the bureau's answers (`GET /api/v1/bank/server-key`).
    ///
    /// # Errors
    ///
    /// The key cannot be loaded or the database fails.
    pub async fn bank_server_keys(&self) -> ServiceResult<ServerKeys> {
        let signer = self.bank_signer().await?;
        let mut conn = self.connection().await?;
        let mut current = None;
        let mut earlier = Vec::new();
        for row in signing_key_rows::all_keys(&mut conn, rows::SIGNING_KEYS).await? {
            let Ok(public) = Sm2PublicKey::from_sec1_hex(&row.public_key) else {
                continue;
            };
            let view = ServerKeyView {
                key_id: row.id.clone(),
                public_key_pem: public.to_pem(),
                public_key_hex: row.public_key.clone(),
                source: row.source.clone(),
                created_at: row.created_at,
            };
            if row.id == signer.key_id {
                current = Some(view);
            } else {
                earlier.push(view);
            }
        }
        Ok(ServerKeys {
            current: current.ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!("the current bank key is not stored"))
            })?,
            earlier,
            scheme: format!(
                "Answers to signed requests carry X-Timestamp, X-Key-Id and X-Signature: SM2 (user id 1234567812345678, r ‖ s as 128 hex characters) over the UTF-8 of \"{RESPONSE_PREFIX}\" LF <status> LF <request X-Nonce> LF <X-Timestamp> LF <SM3 of the body, lowercase hex>."
            ),
        })
    }

    async fn load_bank_signer(&self) -> ServiceResult<BankSigner> {
        let key_file = self.banks.settings.signing_key_file.as_deref();
        let LoadedKey { key, key_id } = self
            .load_signing_key(&signing_keys::BANKS, key_file)
            .await?;
        Ok(BankSigner { key, key_id })
    }

    /// The bank interface settings this process serves with.
    #[must_use]
    pub fn with_bank_settings(mut self, settings: BankSettings) -> Self {
        self.banks = Arc::new(BankState::new(settings));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_request_is_seven_lines_without_a_final_lf() {
        let canonical = canonical_request(
            "post",
            "/api/v1/bank/activations",
            "ICBC",
            "1764210000",
            "c2b7a1f0e4d94b8fa1d3",
            b"{}",
        );
        let lines: Vec<&str> = canonical.split('\n').collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0], "SSCARD-BANK-SM2-V1");
        assert_eq!(lines[1], "POST");
        assert_eq!(lines[6], sscard_crypto::sm3_hex(b"{}"));
        assert!(!canonical.ends_with('\n'));
        let response = canonical_response(200, "n", "1", b"");
        assert_eq!(response.split('\n').count(), 5);
        assert!(response.ends_with(&sscard_crypto::sm3_hex(b"")));
    }

    #[test]
    fn nonces_and_signatures_are_checked_for_form() {
        assert!(is_nonce("c2b7a1f0e4d94b8fa1d3"));
        assert!(!is_nonce("short"));
        assert!(!is_nonce("c2b7a1f0e4d94b8f a1d3"));
        assert!(!is_nonce(&"a".repeat(65)));
        let key = Sm2SigningKey::generate();
        let raw = key.sign(b"x");
        assert_eq!(decode_signature(&hex::encode(&raw)), Some(raw.clone()));
        let der = sscard_crypto::sm2_signature_to_der(&raw).unwrap();
        assert_eq!(decode_signature(&hex::encode(der)), Some(raw));
        assert_eq!(decode_signature("zz"), None);
        assert_eq!(decode_signature("00"), None);
    }

    #[test]
    fn bank_input_lists_every_problem_at_once() {
        let error = BankInput {
            code: "工行".into(),
            name: String::new(),
            bins: vec!["12".into()],
            api_public_key: Some("not a key".into()),
            status: Some("closed".into()),
            ..BankInput::default()
        }
        .parse()
        .unwrap_err();
        let ServiceError::Invalid { errors, .. } = error else {
            panic!("{error:?}");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "bins", "status", "api_public_key"]);
        let ok = BankInput {
            code: "icbc".into(),
            name: "中国工商银行".into(),
            bins: vec!["621226".into(), "622202".into()],
            ..BankInput::default()
        }
        .parse()
        .unwrap();
        assert_eq!(ok.code.as_str(), "ICBC");
        assert_eq!(ok.status, BankStatus::Active);
        assert!(ok.api_public_key.is_none());
    }
}
