//! The use cases. Each public function is one use case: it loads, asks the
//! domain what may happen, writes in one transaction and appends its audit
//! entry inside that same transaction. The JSON API, the HTML pages and the
//! command line all call these; no rule lives in a handler or a template.

pub mod accounts;
pub mod audit_trail;
pub mod bank_activation;
pub mod bank_exchange;
pub mod banks;
pub mod batches;
pub mod calendar;
pub mod cases;
pub mod citizen_forms;
pub mod citizens;
pub mod consultations;
pub mod delivery;
pub mod demo;
pub mod e_certificate;
pub mod guide;
pub mod identifiers;
pub mod import;
pub mod keys;
pub mod notifications;
pub mod progress;
pub mod ratings;
pub mod reference_cache;
pub mod registry;
pub mod reveal;
pub mod signing_keys;
pub mod slips;
pub mod sms;
pub mod stats;

use std::sync::Arc;

use sscard_crypto::Keyring;

pub use keys::KeyStore;

pub use crate::store::audit::Outcome;
use crate::store::audit::{self, AuditEntry, AuditReport};
use crate::store::{Store, StoreError, Tx};

/// Who did something, as written into the audit trail: the account, the role
/// it acted in and where the request came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The account: `system`, `cli:<os user>`, `account:<uuid>`.
    pub id: String,
    /// The role acted in: `system`, `operator`, or a role code.
    pub role: String,
    /// The client's network address; `-` when not over the network.
    pub client_address: String,
}

impl Actor {
    /// The system itself (start-up seeding of shipped reference data).
    pub fn system() -> Self {
        Self {
            id: "system".to_owned(),
            role: "system".to_owned(),
            client_address: "-".to_owned(),
        }
    }

    /// An operator at the command line of the server machine.
    pub fn operator(os_user: &str) -> Self {
        Self {
            id: format!("cli:{os_user}"),
            role: "operator".to_owned(),
            client_address: "-".to_owned(),
        }
    }

    /// A signed-in account acting in `role` (one role code, or several joined by `+`).
    pub fn account(account_id: &str, role: &str, client_address: &str) -> Self {
        Self {
            id: format!("account:{account_id}"),
            role: role.to_owned(),
            client_address: client_address.to_owned(),
        }
    }

    /// The account id, as written into `*_by` columns.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field at fault, e.g. `id_number` or `process[1].time_limit_working_days`.
    pub field: String,
    /// A stable upper-snake code, e.g. `ID_NUMBER_CHECKSUM`.
    pub code: String,
    /// What is wrong and what to do, in Chinese.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Why a use case did not happen. The HTTP layer maps each variant once to a
/// problem answer; the command line prints the detail.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; `errors` lists every problem at once.
    #[error("{detail}")]
    Invalid {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// No valid session or credentials.
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// Signed in, but this account may not do this.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// Too many attempts; try again after `retry_after_seconds`.
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: String,
        retry_after_seconds: u64,
    },
    /// The request is valid but conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The database cannot be reached right now.
    /// A service this one depends on (e.g. the SMS provider) failed;
    /// nothing that depended on it was done.
    #[error("{detail}")]
    Upstream { code: &'static str, detail: String },
    /// Something this installation needs for the use case is missing (e.g.
    /// the slip's fonts are not installed); an operator must fix it.
    #[error("{detail}")]
    NotReady { code: &'static str, detail: String },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] StoreError),
    #[error("internal error: {0}")]
    Internal(#[source] anyhow::Error),
}

/// PostgreSQL's SQLSTATE for a text it cannot store in the database's
/// encoding (`character_not_in_repertoire`: the NUL character in UTF-8).
const UNTRANSLATABLE_TEXT: &str = "22021";

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => Self::Unavailable(error),
            // A text PostgreSQL cannot store (the NUL character) that came
            // past the web layer's checks, e.g. inside an uploaded list: the
            // client's mistake, and the transaction is rolled back.
            StoreError::Database(sqlx::Error::Database(database))
                if database.code().as_deref() == Some(UNTRANSLATABLE_TEXT) =>
            {
                Self::Invalid {
                    code: "NUL_CHARACTER",
                    detail: "提交的内容含有空字符（U+0000）等无法保存的字符，请删除后重新提交。"
                        .to_owned(),
                    errors: Vec::new(),
                }
            }
            _ => Self::Internal(error.into()),
        }
    }
}

impl ServiceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::Upstream { code, .. }
            | Self::NotReady { code, .. } => code,
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Where uploaded scans are kept unless configured: beside the key file
/// (`data/blobs` for the default `data/keys.json`); see [`crate::server::prepare`].
pub const DEFAULT_BLOB_DIR: &str = "data/blobs";

/// The use cases over one store; cheap to clone into every request.
#[derive(Clone, Debug)]
pub struct Services {
    store: Store,
    keys: Arc<KeyStore>,
    /// Where text messages go (see [`sms`]); the simulated outbox unless
    /// [`Services::with_sms_gateway`] says otherwise.
    sms: Arc<dyn sms::SmsGateway>,
    /// The basic e-certificate library (see [`e_certificate`]).
    e_certificates: Arc<dyn e_certificate::ECertificateLibrary>,
    /// Where uploaded scans are kept (see [`crate::blobs`]).
    blobs: Arc<dyn crate::blobs::BlobStore>,
    /// 好差评 settings (see [`ratings`]).
    ratings: ratings::RatingSettings,
    /// 业务反馈单: fonts, signing key, public address (see [`slips`]).
    slips: Arc<slips::SlipState>,
    /// The bank interface: its settings and answer-signing key (see [`banks`]).
    banks: Arc<banks::BankState>,
    /// 单位批量启用: chunk size (see [`batches`]).
    batch: batches::BatchSettings,
    /// Wakes this process's batch worker when a batch is accepted here.
    batch_wakeup: Arc<tokio::sync::Notify>,
    /// Decoded guide versions and calendar years (see [`reference_cache`]).
    reference: Arc<reference_cache::ReferenceCache>,
}

impl Services {
    pub fn new(store: Store, keys: Arc<KeyStore>) -> Self {
        let sms = Arc::new(sms::OutboxGateway::new(store.clone(), Arc::clone(&keys)));
        let e_certificates = Arc::new(e_certificate::RegistryECertificates::new(
            store.clone(),
            Arc::clone(&keys),
        ));
        let blobs = Arc::new(crate::blobs::FsBlobStore::new(DEFAULT_BLOB_DIR));
        Self {
            store,
            keys,
            sms,
            e_certificates,
            blobs,
            ratings: ratings::RatingSettings::default(),
            slips: Arc::new(slips::SlipState::new(slips::SlipSettings::default())),
            banks: Arc::new(banks::BankState::default()),
            batch: batches::BatchSettings::default(),
            batch_wakeup: Arc::new(tokio::sync::Notify::new()),
            reference: Arc::default(),
        }
    }

    /// Makes slips with `settings` from now on (fonts, signing key file,
    /// public address).
    #[must_use]
    pub fn with_slip_settings(mut self, settings: slips::SlipSettings) -> Self {
        self.slips = Arc::new(slips::SlipState::new(settings));
        self
    }

    /// The slips' settings and fonts.
    pub fn slip_state(&self) -> &slips::SlipState {
        &self.slips
    }

    /// Keeps uploaded scans in `blobs` from now on.
    #[must_use]
    pub fn with_blob_store(mut self, blobs: Arc<dyn crate::blobs::BlobStore>) -> Self {
        self.blobs = blobs;
        self
    }

    /// The blob store of uploaded scans.
    pub fn blob_store(&self) -> &Arc<dyn crate::blobs::BlobStore> {
        &self.blobs
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The decoded reference data of this process.
    pub(crate) fn reference(&self) -> &reference_cache::ReferenceCache {
        &self.reference
    }

    /// The keys that seal personal data at rest and key the blind indexes,
    /// as they are now (see [`KeyStore::reload`]).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keys.keyring()
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// A connection of the read pool, for a use case's reads outside a
    /// transaction.
    pub(crate) async fn connection(&self) -> ServiceResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self
            .store()
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?)
    }

    /// Appends one audit entry inside the caller's transaction.
    pub(crate) async fn record_audit(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        action: &'static str,
        object: &str,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> ServiceResult<()> {
        audit::append(
            tx,
            &AuditEntry {
                occurred_at: chrono::Utc::now(),
                actor: actor.id.clone(),
                actor_role: actor.role.clone(),
                client_address: actor.client_address.clone(),
                action,
                object: object.to_owned(),
                outcome,
                detail,
            },
        )
        .await?;
        Ok(())
    }

    /// Ends a use case as refused: appends its refused audit entry (with
    /// whatever the transaction wrote before, e.g. a failed attempt's
    /// counter), commits, and answers `error`.
    pub(crate) async fn commit_refusal<T>(
        &self,
        mut tx: Tx,
        actor: &Actor,
        action: &'static str,
        object: &str,
        detail: serde_json::Value,
        error: ServiceError,
    ) -> ServiceResult<T> {
        self.record_audit(&mut tx, actor, action, object, Outcome::Refused, detail)
            .await?;
        commit(tx).await?;
        Err(error)
    }

    /// Loads the reference data shipped with this binary (the current guide
    /// and the working-day calendars) where the database does not have it yet.
    pub async fn seed_reference_data(&self) -> ServiceResult<()> {
        self.seed_shipped_guide().await?;
        self.seed_shipped_calendars().await?;
        Ok(())
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> ServiceResult<()> {
        self.store.ping().await.map_err(ServiceError::Unavailable)
    }

    /// Recomputes every audit chain; see [`verify_audit`].
    pub async fn verify_audit(&self) -> ServiceResult<AuditReport> {
        verify_audit(&self.store).await
    }
}

/// Recomputes every audit chain and reports each altered, deleted, inserted
/// or reordered entry. Reads only, and needs no keys.
pub async fn verify_audit(store: &Store) -> ServiceResult<AuditReport> {
    Ok(audit::verify(store).await?)
}

/// Commits a use case's transaction; a failed commit changes nothing.
pub(crate) async fn commit(tx: Tx) -> ServiceResult<()> {
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
