//! Text messages (短信) go through one pluggable gateway, [`SmsGateway`]:
//!
//! - [`OutboxGateway`], the default, sends nothing. It writes each message
//!   to the log (target `sms`, the number masked) and to the `sms_outbox`
//!   table (number and text sealed), which an administrator reads through
//!   [`Services::sms_outbox`] — for demonstrations and tests, where no SMS
//!   provider is contracted. The server warns at start-up that SMS is
//!   simulated.
//! - [`HttpGateway`] posts each message to an SMS provider or an intranet
//!   SMS relay: `POST <url>` with `Authorization: Bearer <key>` and the JSON
//!   body `{"mobile": "13800138000", "text": "…"}`; any 2xx answer counts as
//!   accepted, anything else (or no answer within 10 seconds) as a failure.
//!   Configured by `SSCARD_SMS_URL` and `SSCARD_SMS_KEY` (`--sms-url`,
//!   `--sms-key`); `http://` and `https://` (rustls, the system's trusted
//!   certificates) are both accepted. The key is a secret: its `Debug`
//!   prints nothing and it is never logged.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sscard_domain::identifiers::MobileNumber;

use super::{Actor, KeyStore, Outcome, ServiceError, ServiceResult, Services};
use crate::store::Store;
pub use crate::store::citizens::{OUTBOX_MOBILE_COLUMN, OUTBOX_TEXT_COLUMN};
use crate::store::citizens::{OutboxRow, insert_outbox, recent_outbox};

/// The future a gateway's `send` returns.
pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Sends one text message to one mobile number.
pub trait SmsGateway: Send + Sync + fmt::Debug {
    /// Hands `text` over for delivery to `mobile`. `Ok` means the gateway
    /// accepted the message, not that the phone received it.
    fn send<'a>(&'a self, mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a>;

    /// Whether this gateway keeps the outbox administrators may read
    /// (only the simulated one does).
    fn keeps_outbox(&self) -> bool {
        false
    }
}

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the SMS provider refused the message with HTTP status {status}")]
    Refused { status: u16 },
    #[error("the SMS outbox could not be written: {0}")]
    Outbox(String),
}

/// Why the SMS configuration was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SmsConfigError {
    #[error("SSCARD_SMS_URL is set but SSCARD_SMS_KEY is not: the SMS provider needs its API key")]
    MissingKey,
    #[error(
        "SSCARD_SMS_KEY is set but SSCARD_SMS_URL is not: give the SMS provider's address, or remove the key to simulate SMS"
    )]
    MissingUrl,
    #[error(
        "SSCARD_SMS_URL must be an http:// or https:// address without user name or password (e.g. https://sms.example.gov.cn/send): {0}"
    )]
    Url(String),
    #[error("SSCARD_SMS_KEY must be printable text without spaces")]
    Key,
    #[error("cannot set up the HTTP client for the SMS provider: {0}")]
    Client(String),
}

/// The API key of the SMS provider. `Debug` and `Display` print nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsKey(String);

impl SmsKey {
    /// # Errors
    ///
    /// [`SmsConfigError::Key`] for an empty key or one with spaces or
    /// control characters (it travels in an HTTP header).
    pub fn new(key: &str) -> Result<Self, SmsConfigError> {
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(SmsConfigError::Key);
        }
        Ok(Self(key.to_owned()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmsKey(***)")
    }
}

impl fmt::Display for SmsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for SmsKey {
    type Err = SmsConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

// ---------------------------------------------------------------------------
// The simulated gateway
// ---------------------------------------------------------------------------

/// How long the outbox keeps a message.
pub const OUTBOX_RETENTION: Duration = Duration::days(1);
/// The most messages [`Services::sms_outbox`] shows.
pub const OUTBOX_LIMIT: i64 = 100;

/// The default gateway: sends nothing, logs the message and keeps it in the
/// outbox for administrators (demonstrations and tests).
#[derive(Clone, Debug)]
pub struct OutboxGateway {
    store: Store,
    keys: Arc<KeyStore>,
}

impl OutboxGateway {
    pub fn new(store: Store, keys: Arc<KeyStore>) -> Self {
        Self { store, keys }
    }
}

impl SmsGateway for OutboxGateway {
    fn send<'a>(&'a self, mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let now = Utc::now();
            let id = uuid::Uuid::new_v4().to_string();
            let keyring = self.keys.keyring();
            let row = OutboxRow {
                mobile_masked: mobile.masked(),
                mobile_sealed: keyring
                    .encrypt_str(mobile.as_str(), OUTBOX_MOBILE_COLUMN.aad(&id).as_bytes()),
                text_sealed: keyring.encrypt_str(text, OUTBOX_TEXT_COLUMN.aad(&id).as_bytes()),
                created_at: now,
                id,
            };
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .map_err(|e| SmsError::Outbox(e.to_string()))?;
            insert_outbox(&mut conn, &row, now - OUTBOX_RETENTION)
                .await
                .map_err(|e| SmsError::Outbox(e.to_string()))?;
            tracing::info!(
                target: "sms",
                mobile = %mobile.masked(),
                text,
                "simulated SMS, not sent: written to the outbox"
            );
            Ok(())
        })
    }

    fn keeps_outbox(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------
// The HTTP gateway
// ---------------------------------------------------------------------------

/// How long the provider has to answer.
pub const HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// Posts each message to an SMS provider (or intranet relay) as JSON with a
/// bearer key.
pub struct HttpGateway {
    url: url::Url,
    key: SmsKey,
    client: reqwest::Client,
}

impl fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            .field("endpoint", &self.endpoint())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// A gateway posting to `url` with `key`.
    ///
    /// # Errors
    ///
    /// A URL that is not `http://` or `https://`, carries a user name or
    /// password, or does not parse; an HTTP client that cannot be built.
    pub fn new(url: &str, key: SmsKey) -> Result<Self, SmsConfigError> {
        let url = url::Url::parse(url.trim()).map_err(|e| SmsConfigError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SmsConfigError::Url(format!(
                "the scheme `{}` is not served",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SmsConfigError::Url(
                "put the credentials into SSCARD_SMS_KEY, not into the address".to_owned(),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SmsConfigError::Url("the address names no host".to_owned()));
        }
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(StdDuration::from_secs(5))
            // The key must not follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsConfigError::Client(e.to_string()))?;
        Ok(Self { url, key, client })
    }

    /// The gateway the configuration asks for: `None` when neither address
    /// nor key is given (SMS is then simulated).
    ///
    /// # Errors
    ///
    /// One of the two without the other, or either one malformed.
    pub fn from_settings(
        url: Option<&str>,
        key: Option<SmsKey>,
    ) -> Result<Option<Self>, SmsConfigError> {
        let url = url.map(str::trim).filter(|url| !url.is_empty());
        match (url, key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(SmsConfigError::MissingKey),
            (None, Some(_)) => Err(SmsConfigError::MissingUrl),
            (Some(url), Some(key)) => Self::new(url, key).map(Some),
        }
    }

    /// Scheme, host, port and path of the provider's address (no query), for logs.
    pub fn endpoint(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    }
}

impl SmsGateway for HttpGateway {
    fn send<'a>(&'a self, mobile: &'a MobileNumber, text: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let response = self
                .client
                .post(self.url.clone())
                .bearer_auth(self.key.expose())
                .json(&serde_json::json!({ "mobile": mobile.as_str(), "text": text }))
                .send()
                .await
                .map_err(|e| SmsError::Unreachable(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                tracing::warn!(
                    target: "sms",
                    mobile = %mobile.masked(),
                    status = status.as_u16(),
                    endpoint = %self.endpoint(),
                    "the SMS provider refused a message"
                );
                return Err(SmsError::Refused {
                    status: status.as_u16(),
                });
            }
            tracing::info!(target: "sms", mobile = %mobile.masked(), "SMS handed to the provider");
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------

/// One message of the simulated outbox, as an administrator sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The number, masked (`138****5678`).
    pub mobile_masked: String,
    /// The full text, one-time code included.
    pub text: String,
}

impl Services {
    /// Sends every text message through `gateway` from now on.
    #[must_use]
    pub fn with_sms_gateway(mut self, gateway: Arc<dyn SmsGateway>) -> Self {
        self.sms = gateway;
        self
    }

    /// Uses the HTTP gateway when `url` and `key` are given, else keeps the
    /// simulated outbox and warns that SMS is simulated.
    ///
    /// # Errors
    ///
    /// See [`HttpGateway::from_settings`].
    pub fn with_sms_settings(
        self,
        url: Option<&str>,
        key: Option<SmsKey>,
    ) -> Result<Self, SmsConfigError> {
        match HttpGateway::from_settings(url, key)? {
            Some(gateway) => {
                tracing::info!(target: "sms", endpoint = %gateway.endpoint(), "text messages go to the SMS provider");
                Ok(self.with_sms_gateway(Arc::new(gateway)))
            }
            None => {
                tracing::warn!(
                    target: "sms",
                    "SMS is SIMULATED: no message leaves this server; one-time codes are written to the log and to the outbox administrators read at GET /api/v1/admin/sms-outbox. For real use set SSCARD_SMS_URL and SSCARD_SMS_KEY"
                );
                Ok(self)
            }
        }
    }

    /// The gateway text messages go through.
    pub fn sms_gateway(&self) -> &Arc<dyn SmsGateway> {
        &self.sms
    }

    /// The simulated gateway's messages of the last day, newest first (at
    /// most [`OUTBOX_LIMIT`]), with their full text. Reading them shows
    /// one-time codes, so every reading is audited.
    ///
    /// # Errors
    ///
    /// `NotFound SMS_OUTBOX_DISABLED` when a real SMS provider is configured.
    pub async fn sms_outbox(&self, actor: &Actor) -> ServiceResult<Vec<OutboxMessage>> {
        if !self.sms.keeps_outbox() {
            return Err(ServiceError::NotFound {
                code: "SMS_OUTBOX_DISABLED",
                detail: "本系统已接入短信服务商，短信直接发出，没有演示发件箱。".to_owned(),
            });
        }
        let now = Utc::now();
        let mut tx = self.store().begin().await?;
        let rows = recent_outbox(&mut tx, now - OUTBOX_RETENTION, OUTBOX_LIMIT).await?;
        let messages = rows
            .iter()
            .map(|row| {
                Ok(OutboxMessage {
                    id: row.id.clone(),
                    created_at: row.created_at,
                    mobile_masked: row.mobile_masked.clone(),
                    text: self.open_sealed(&row.text_sealed, &OUTBOX_TEXT_COLUMN.aad(&row.id))?,
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        self.record_audit(
            &mut tx,
            actor,
            "sms_outbox.read",
            "sms_outbox",
            Outcome::Succeeded,
            serde_json::json!({ "messages": messages.len() }),
        )
        .await?;
        super::commit(tx).await?;
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows() {
        let key = SmsKey::new(" secret-key-123 ").unwrap();
        assert_eq!(key.expose(), "secret-key-123");
        assert_eq!(format!("{key:?}"), "SmsKey(***)");
        assert_eq!(key.to_string(), "***");
        let gateway = HttpGateway::new("https://sms.example.gov.cn/send?x=1", key).unwrap();
        let debug = format!("{gateway:?}");
        assert!(!debug.contains("secret-key-123"), "{debug}");
        assert!(debug.contains("https://sms.example.gov.cn/send"), "{debug}");
        assert!(!debug.contains("x=1"), "{debug}");
        assert!(SmsKey::new("").is_err());
        assert!(SmsKey::new("two words").is_err());
    }

    #[test]
    fn the_configuration_needs_both_or_neither() {
        let key = || Some(SmsKey::new("k").unwrap());
        assert!(HttpGateway::from_settings(None, None).unwrap().is_none());
        assert!(
            HttpGateway::from_settings(Some("  "), None)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            HttpGateway::from_settings(Some("http://relay.local/sms"), None),
            Err(SmsConfigError::MissingKey)
        ));
        assert!(matches!(
            HttpGateway::from_settings(None, key()),
            Err(SmsConfigError::MissingUrl)
        ));
        for bad in [
            "ftp://relay.local/sms",
            "not a url",
            "http://user:pw@relay.local/sms",
        ] {
            assert!(
                matches!(
                    HttpGateway::from_settings(Some(bad), key()),
                    Err(SmsConfigError::Url(_))
                ),
                "{bad}"
            );
        }
        assert!(
            HttpGateway::from_settings(Some("http://10.1.2.3:8088/sms"), key())
                .unwrap()
                .is_some()
        );
    }
}
