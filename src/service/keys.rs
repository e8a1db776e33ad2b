//! The data keys of a running installation: the key ring in memory, reloaded
//! from the key file when it changes (after `sscard keys rotate`), and the
//! use case that re-encrypts every sealed column under the newest key.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sscard_crypto::{CryptoError, KeyFile, Keyring};

use super::{Actor, Outcome, ServiceError, ServiceResult, Services};
use crate::store::keys::{SEALED_COLUMNS, SealedColumn, reseal, sealed_page};

/// The key ring in use, and where it comes from.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    check_value: String,
    current: RwLock<Arc<Keyring>>,
}

impl KeyStore {
    /// A key store over an already opened and checked key ring.
    pub fn new(path: &Path, check_value: String, keyring: Keyring) -> Self {
        Self {
            path: path.to_path_buf(),
            check_value,
            current: RwLock::new(Arc::new(keyring)),
        }
    }

    /// The key ring as it is now.
    pub fn keyring(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the key file again and takes it when its current key changed.
    /// A file that no longer belongs to this database is refused and the
    /// ring in memory kept.
    pub fn reload(&self) -> ServiceResult<bool> {
        let fresh = KeyFile::load(&self.path).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("cannot reload the key file: {e}"))
        })?;
        fresh.verify_check_value(&self.check_value).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!(
                "the key file {} no longer belongs to this database: {e}",
                self.path.display()
            ))
        })?;
        let changed = fresh.current_key_id() != self.keyring().current_key_id();
        if changed {
            let mut guard = match self.current.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = Arc::new(fresh);
            tracing::info!(path = %self.path.display(), "reloaded the data key file: a new data key is current");
        }
        Ok(changed)
    }
}

/// What a re-encryption pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub examined: u64,
    pub resealed: u64,
}

impl Services {
    /// Opens a sealed value; a value sealed under a key this process does
    /// not know yet (another process rotated) makes it reload the key file once.
    pub fn open_sealed(&self, sealed: &str, aad: &str) -> ServiceResult<String> {
        match self.keyring().decrypt_str(sealed, aad.as_bytes()) {
            Err(CryptoError::UnknownKey { .. }) if self.keys().reload()? => self
                .keyring()
                .decrypt_str(sealed, aad.as_bytes())
                .map_err(|e| sealed_error(aad, &e)),
            result => result.map_err(|e| sealed_error(aad, &e)),
        }
    }

    /// Re-encrypts every sealed value that is not under the current key,
    /// in small transactions, each value only if it did not change meanwhile.
    /// Readers keep working throughout: old keys stay in the ring.
    pub async fn reseal_all(&self, actor: &Actor) -> ServiceResult<ResealReport> {
        let mut report = ResealReport::default();
        for column in SEALED_COLUMNS {
            let column_report = self.reseal_column(column).await?;
            report.examined += column_report.examined;
            report.resealed += column_report.resealed;
        }
        let mut tx = self.store().begin().await?;
        self.record_audit(
            &mut tx,
            actor,
            "keys.reseal",
            "keys",
            Outcome::Succeeded,
            serde_json::json!({
                "current_key": self.keyring().current_key_id(),
                "examined": report.examined,
                "resealed": report.resealed,
            }),
        )
        .await?;
        super::commit(tx).await?;
        Ok(report)
    }

    async fn reseal_column(&self, column: &SealedColumn) -> ServiceResult<ResealReport> {
        const PAGE: i64 = 500;
        let mut report = ResealReport::default();
        let mut after = String::new();
        loop {
            let page = sealed_page(self.store(), column, &after, PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after.clone_from(last);
            let keyring = self.keyring();
            let mut tx = self.store().begin().await?;
            for (key, sealed) in &page {
                report.examined += 1;
                if !keyring.needs_reencryption(sealed) {
                    continue;
                }
                let aad = column.aad(key);
                let plain = keyring
                    .decrypt(sealed, aad.as_bytes())
                    .map_err(|e| sealed_error(&aad, &e))?;
                let fresh = keyring.encrypt(&plain, aad.as_bytes());
                if reseal(&mut tx, column, key, sealed, &fresh).await? {
                    report.resealed += 1;
                }
            }
            super::commit(tx).await?;
        }
        Ok(report)
    }
}

fn sealed_error(aad: &str, error: &CryptoError) -> ServiceError {
    let what = aad.split(':').next().unwrap_or(aad);
    ServiceError::Internal(anyhow::anyhow!(
        "a sealed value of {what} cannot be opened: {error}"
    ))
}
