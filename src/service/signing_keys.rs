//! The bureau's SM2 signing keys, one per purpose: the key that signs
//! 业务反馈单 ([`SLIPS`], `slip_keys`) and the key that signs answers to banks
//! ([`BANKS`], `bank_keys`). The same rules serve both:
//!
//! - with a configured key file (`signing_key_file`), that key signs; its
//!   public half is registered in the table (audited once per key);
//! - otherwise the key generated on the first start of a database signs; it
//!   is kept sealed in the table so every node signs with it. Two nodes
//!   generating at once: one insert wins and both use the winner's key.
//!
//! Every key that ever signed stays in its table, so old signatures keep
//! verifying after a key change.

use std::path::Path;

use chrono::Utc;
use sscard_crypto::Sm2SigningKey;

use super::{Actor, Outcome, ServiceError, ServiceResult, Services, commit};
use crate::store::signing_keys::{self as rows, GENERATED_SLOT, KeyRow, KeyTable};

/// What a signing key is for: its table, and the words of its audit entries,
/// errors and logs.
#[derive(Debug)]
pub(crate) struct KeyPurpose {
    pub table: KeyTable,
    /// In errors: `the generated {noun} key …`, `the {noun} signing key file …`.
    pub noun: &'static str,
    /// The audit action when a key file's key is first registered.
    pub register_action: &'static str,
    /// The audit action when the key is generated.
    pub generate_action: &'static str,
    /// The audit object is `{object_prefix}:{key id}`.
    pub object_prefix: &'static str,
    /// Logged once when this node generates the key.
    pub generated_notice: &'static str,
}

/// The key that signs 业务反馈单.
pub(crate) const SLIPS: KeyPurpose = KeyPurpose {
    table: crate::store::slips::SIGNING_KEYS,
    noun: "slip",
    register_action: "slip.key_register",
    generate_action: "slip.key_generate",
    object_prefix: "slip_key",
    generated_notice: "generated the bureau's slip signing key (SM2), kept sealed in the database; set [slip] signing_key_file for a production key",
};

/// The key that signs answers to banks.
pub(crate) const BANKS: KeyPurpose = KeyPurpose {
    table: crate::store::banks::SIGNING_KEYS,
    noun: "bank",
    register_action: "bank.key_register",
    generate_action: "bank.key_generate",
    object_prefix: "bank_key",
    generated_notice: "generated the bureau's SM2 key that signs answers to banks, kept sealed in the database; set [bank] signing_key_file for a production key",
};

/// A signing key in use and its id.
pub(crate) struct LoadedKey {
    pub key: Sm2SigningKey,
    pub key_id: String,
}

/// Reads a configured signing key file (PEM, PKCS#8 or SEC1).
///
/// # Errors
///
/// The file cannot be read or is not an SM2 private key, in words.
pub fn read_signing_key_file(path: &Path) -> Result<Sm2SigningKey, String> {
    let text = sscard_crypto::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|error| format!("cannot read it: {error}"))?,
    );
    Sm2SigningKey::from_pem(&text).map_err(|error| error.to_string())
}

impl Services {
    /// The signing key for `purpose`: the configured file's (registered in
    /// its table on first use), or the generated one (generated and stored
    /// sealed now if the table has none).
    pub(crate) async fn load_signing_key(
        &self,
        purpose: &KeyPurpose,
        key_file: Option<&Path>,
    ) -> ServiceResult<LoadedKey> {
        if let Some(path) = key_file {
            return self.register_key_file(purpose, path).await;
        }
        let mut conn = self.connection().await?;
        let stored = rows::generated_key(&mut conn, purpose.table).await?;
        drop(conn);
        let row = match stored {
            Some(row) => row,
            None => self.generate_key(purpose).await?,
        };
        let noun = purpose.noun;
        let sealed = row.private_key_sealed.as_deref().ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!(
                "the generated {noun} key has no private key"
            ))
        })?;
        let aad = purpose.table.private_key_sealed().aad(&row.id);
        let secret = sscard_crypto::Zeroizing::new(self.open_sealed(sealed, &aad)?);
        let key = Sm2SigningKey::from_secret_hex(&secret)
            .map_err(|e| ServiceError::Internal(e.into()))?;
        if key.public_key().key_id() != row.id {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "the generated {noun} key {} does not match its public key",
                row.id
            )));
        }
        Ok(LoadedKey {
            key,
            key_id: row.id,
        })
    }

    async fn register_key_file(
        &self,
        purpose: &KeyPurpose,
        path: &Path,
    ) -> ServiceResult<LoadedKey> {
        let key = read_signing_key_file(path).map_err(|reason| {
            ServiceError::Internal(anyhow::anyhow!(
                "the {} signing key file {}: {reason}",
                purpose.noun,
                path.display()
            ))
        })?;
        let public = key.public_key();
        let key_id = public.key_id();
        let mut tx = self.store().begin().await?;
        let row = KeyRow {
            id: key_id.clone(),
            public_key: public.to_sec1_hex(),
            source: "file".to_owned(),
            private_key_sealed: None,
            created_at: Utc::now(),
        };
        if rows::insert_key(&mut tx, purpose.table, &row).await? {
            self.record_audit(
                &mut tx,
                &Actor::system(),
                purpose.register_action,
                &format!("{}:{key_id}", purpose.object_prefix),
                Outcome::Succeeded,
                serde_json::json!({ "source": "file", "key_id": key_id }),
            )
            .await?;
        }
        commit(tx).await?;
        Ok(LoadedKey { key, key_id })
    }

    /// Generates the key and stores it sealed, unless another node stored
    /// one first; the stored row either way.
    async fn generate_key(&self, purpose: &KeyPurpose) -> ServiceResult<KeyRow> {
        let key = Sm2SigningKey::generate();
        let public = key.public_key();
        let key_id = public.key_id();
        let sealed = self.keyring().encrypt(
            key.secret_hex().as_bytes(),
            purpose.table.private_key_sealed().aad(&key_id).as_bytes(),
        );
        let row = KeyRow {
            id: key_id.clone(),
            public_key: public.to_sec1_hex(),
            source: GENERATED_SLOT.to_owned(),
            private_key_sealed: Some(sealed),
            created_at: Utc::now(),
        };
        let mut tx = self.store().begin().await?;
        if rows::insert_key(&mut tx, purpose.table, &row).await? {
            self.record_audit(
                &mut tx,
                &Actor::system(),
                purpose.generate_action,
                &format!("{}:{key_id}", purpose.object_prefix),
                Outcome::Succeeded,
                serde_json::json!({ "source": "generated", "key_id": key_id }),
            )
            .await?;
            commit(tx).await?;
            tracing::info!(key_id = %key_id, "{}", purpose.generated_notice);
        } else {
            // Another node generated one first: use theirs.
            drop(tx);
        }
        let mut conn = self.connection().await?;
        rows::generated_key(&mut conn, purpose.table)
            .await?
            .ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!(
                    "the generated {} key vanished",
                    purpose.noun
                ))
            })
    }
}
