//! The key ring: SM4-GCM field encryption, HMAC-SM3 blind indexes and the
//! key check value.

use std::fmt;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use chrono::{DateTime, Utc};
use sm3::{Digest, Sm3};
use sm4::Sm4;
use thiserror::Error;
use zeroize::Zeroize;

use crate::keyfile::KeyFileWarning;
use crate::{constant_time_eq, hmac_sm3_parts, random_bytes};

/// SM4 (GB/T 32907-2016) in Galois/Counter Mode with a 96-bit nonce and a
/// 128-bit tag.
type Sm4Gcm = AesGcm<Sm4, U12>;

/// Length of an SM4 key in bytes (128 bits).
pub(crate) const DATA_KEY_LEN: usize = 16;
/// Length of the blind-index key in bytes (256 bits).
pub(crate) const INDEX_KEY_LEN: usize = 32;
/// Length of a GCM nonce in bytes (96 bits).
const NONCE_LEN: usize = 12;
/// Length of a GCM tag in bytes (128 bits).
const TAG_LEN: usize = 16;
/// Length of a data key id in hex characters.
const KEY_ID_LEN: usize = 8;

/// Every sealed value starts with this; the version lets a later format (or a
/// certified module's format) live next to this one.
const SEALED_PREFIX: &str = "sm4gcm:v1:";
/// Every key check value starts with this.
const CHECK_VALUE_PREFIX: &str = "kcv:v1:";
/// The constant whose HMAC is the key check value. It starts with a NUL byte,
/// and blind-index purposes are non-empty and NUL-free, so no blind index can
/// ever equal the check value.
const CHECK_VALUE_INPUT: &[u8] = b"\0sscard key check value v1";
/// Domain separation for key ids (see [`DataKey::id`]).
const KEY_ID_DOMAIN: &[u8] = b"sscard data key id v1\0";

/// Why a sealed value could not be opened, or a check value did not verify.
///
/// No message contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The value was sealed under a data key that is not in this key ring
    /// (a wrong or outdated key file).
    #[error("the value was sealed under data key {key_id}, which is not in the key ring")]
    UnknownKey {
        /// The id written in the sealed value.
        key_id: String,
    },
    /// The text is not a sealed value in the `sm4gcm:v1` format.
    #[error("the sealed value is malformed")]
    Malformed,
    /// The value did not authenticate: it was altered, or it belongs to
    /// another context (its associated data differs, e.g. another row).
    #[error("the sealed value failed authentication (altered, or sealed for another context)")]
    AuthenticationFailed,
    /// The value authenticated but is not UTF-8 ([`Keyring::decrypt_str`]).
    #[error("the decrypted value is not valid UTF-8")]
    NotUtf8,
    /// The stored key check value does not belong to this key ring.
    #[error(
        "the key check value does not match: this key file is not the one the data was written with"
    )]
    CheckValueMismatch,
}

/// A 128-bit SM4 data key with its id and creation time.
///
/// The key bytes are zeroized on drop and never printed: `Debug` shows
/// `DataKey { id: "1a2b3c4d", created_at: .., .. }`.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    key: [u8; DATA_KEY_LEN],
    created_at: DateTime<Utc>,
}

impl DataKey {
    /// A data key from its bytes; the id is derived from them.
    pub(crate) fn from_bytes(key: &[u8; DATA_KEY_LEN], created_at: DateTime<Utc>) -> Self {
        Self {
            id: key_id(key),
            key: *key,
            created_at,
        }
    }

    /// The key's id: the first 8 hex characters of
    /// SM3(`"sscard data key id v1" || 0x00 || key`).
    ///
    /// Deriving the id from the key (instead of drawing it at random) means a
    /// key file whose key bytes were damaged or swapped no longer matches its
    /// ids, which [`KeyFile::load`](crate::KeyFile::load) detects, and a value
    /// sealed under a key that is not in the ring fails as
    /// [`CryptoError::UnknownKey`] instead of as an authentication failure.
    /// 32 bits of a domain-separated hash reveal nothing useful about a
    /// 128-bit key.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the key was generated.
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The raw key bytes, for the key file writer only.
    pub(crate) fn key_bytes(&self) -> &[u8; DATA_KEY_LEN] {
        &self.key
    }

    fn cipher(&self) -> Sm4Gcm {
        Sm4Gcm::new_from_slice(&self.key).expect("an SM4 key is 16 bytes")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The id of a data key (see [`DataKey::id`]).
pub(crate) fn key_id(key: &[u8; DATA_KEY_LEN]) -> String {
    let digest = Sm3::new()
        .chain_update(KEY_ID_DOMAIN)
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..KEY_ID_LEN / 2])
}

/// Whether `id` looks like a data key id: 8 lowercase hex characters.
pub(crate) fn is_key_id(id: &str) -> bool {
    id.len() == KEY_ID_LEN && is_lower_hex(id)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Decodes canonical (lowercase) hex only, so every sealed value has exactly
/// one spelling and any change to its text is detected.
fn decode_lower_hex(s: &str) -> Result<Vec<u8>, CryptoError> {
    if !is_lower_hex(s) {
        return Err(CryptoError::Malformed);
    }
    hex::decode(s).map_err(|_| CryptoError::Malformed)
}

/// The 256-bit blind-index key; zeroized on drop, never printed.
#[derive(Clone)]
struct IndexKey([u8; INDEX_KEY_LEN]);

impl Drop for IndexKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The keys of the system: SM4-GCM data keys for field encryption, and one
/// separate blind-index key.
///
/// - **Data keys** (128-bit SM4) seal field values with
///   [`encrypt`](Self::encrypt). One is *current* and seals new values; the
///   older ones stay in the ring after a [rotation](crate::KeyFile::rotate) so
///   what they sealed still opens, until it has been re-encrypted
///   ([`needs_reencryption`](Self::needs_reencryption)).
/// - **The index key** (256-bit, for HMAC-SM3) computes
///   [`blind_index`](Self::blind_index)es and the
///   [`check_value`](Self::check_value). It never rotates: rotating it would
///   change every stored index.
///
/// Production key rings come from the key file ([`KeyFile`](crate::KeyFile));
/// tests may use [`insecure_from_seed`](Self::insecure_from_seed).
///
/// Secrets are zeroized on drop; `Debug` prints only key ids.
#[derive(Clone)]
pub struct Keyring {
    /// Oldest first; never empty.
    data_keys: Vec<DataKey>,
    /// Index of the current data key in `data_keys`.
    current: usize,
    index_key: IndexKey,
    warnings: Vec<KeyFileWarning>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_key_id())
            .field("data_keys", &self.data_keys)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A key ring from validated parts (the key file reader).
    ///
    /// `data_keys` must be non-empty with unique ids, and `current` an index
    /// into it.
    pub(crate) fn from_parts(
        data_keys: Vec<DataKey>,
        current: usize,
        index_key: &[u8; INDEX_KEY_LEN],
        warnings: Vec<KeyFileWarning>,
    ) -> Self {
        assert!(current < data_keys.len(), "the current key is in the ring");
        Self {
            data_keys,
            current,
            index_key: IndexKey(*index_key),
            warnings,
        }
    }

    /// A new key ring with one random data key and a random index key.
    pub(crate) fn generate_random() -> Self {
        let mut key: [u8; DATA_KEY_LEN] = random_bytes();
        let mut index_key: [u8; INDEX_KEY_LEN] = random_bytes();
        let ring = Self::from_parts(
            vec![DataKey::from_bytes(&key, Utc::now())],
            0,
            &index_key,
            Vec::new(),
        );
        key.zeroize();
        index_key.zeroize();
        ring
    }

    /// Adds a new random data key and makes it current (the key file's
    /// rotation persists the result).
    pub(crate) fn add_random_data_key(&mut self) {
        loop {
            let mut key: [u8; DATA_KEY_LEN] = random_bytes();
            let data_key = DataKey::from_bytes(&key, Utc::now());
            key.zeroize();
            // A 32-bit id collision is astronomically unlikely; draw again.
            if self.find_key(data_key.id()).is_none() {
                self.data_keys.push(data_key);
                self.current = self.data_keys.len() - 1;
                return;
            }
        }
    }

    /// **Test only — production never uses this.** A key ring whose keys are
    /// derived from `seed`, so tests in any crate get the same keys every run.
    /// Anyone who knows the seed knows the keys.
    #[must_use]
    pub fn insecure_from_seed(seed: u64) -> Self {
        let index_key = Sm3::new()
            .chain_update(b"sscard INSECURE test index key\0")
            .chain_update(seed.to_be_bytes())
            .finalize();
        let index_key: [u8; INDEX_KEY_LEN] = index_key.into();
        Self::from_parts(vec![insecure_data_key(seed, 0)], 0, &index_key, Vec::new())
    }

    /// **Test only — production never uses this.** This key ring plus one more
    /// data key derived from `seed`, made current: an in-memory
    /// [rotation](crate::KeyFile::rotate) for testing re-encryption.
    #[must_use]
    pub fn insecure_rotated(&self, seed: u64) -> Self {
        let mut ring = self.clone();
        let mut generation = ring.data_keys.len() as u64;
        loop {
            let data_key = insecure_data_key(seed, generation);
            if ring.find_key(data_key.id()).is_none() {
                ring.data_keys.push(data_key);
                ring.current = ring.data_keys.len() - 1;
                return ring;
            }
            generation += 1;
        }
    }

    /// The id of the current data key, the one [`encrypt`](Self::encrypt)
    /// uses.
    #[must_use]
    pub fn current_key_id(&self) -> &str {
        self.data_keys[self.current].id()
    }

    /// All data keys, oldest first.
    #[must_use]
    pub fn data_keys(&self) -> &[DataKey] {
        &self.data_keys
    }

    /// Problems found when the key file was loaded that do not stop the
    /// server but should be logged (e.g. permissions wider than 0600).
    #[must_use]
    pub fn warnings(&self) -> &[KeyFileWarning] {
        &self.warnings
    }

    pub(crate) fn index_key_bytes(&self) -> &[u8; INDEX_KEY_LEN] {
        &self.index_key.0
    }

    pub(crate) fn clear_warnings(&mut self) {
        self.warnings.clear();
    }

    fn find_key(&self, id: &str) -> Option<&DataKey> {
        self.data_keys.iter().find(|k| k.id() == id)
    }

    /// Seals `plaintext` with SM4-GCM under the current data key and a fresh
    /// random 96-bit nonce.
    ///
    /// The result is `sm4gcm:v1:<key id>:<hex nonce>:<hex ciphertext+tag>`
    /// (lowercase hex). `aad` (associated data) is authenticated but not
    /// stored: pass the value's context, e.g. `b"person.id_number:42"`
    /// (table, column, row id), so that a value copied to another row or
    /// column fails to decrypt. The header `sm4gcm:v1:<key id>:` is
    /// authenticated too.
    ///
    /// Random nonces are safe for far more values than this system will ever
    /// seal under one key (NIST SP 800-38D allows 2^32 per key).
    ///
    /// # Panics
    ///
    /// If the operating system's random source fails, or `plaintext` exceeds
    /// GCM's limit of about 64 GiB.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let key = &self.data_keys[self.current];
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let full_aad = full_aad(key.id(), aad);
        let ciphertext = key
            .cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: &full_aad,
                },
            )
            .expect("SM4-GCM encryption fails only beyond 64 GiB");
        format!(
            "{SEALED_PREFIX}{}:{}:{}",
            key.id(),
            hex::encode(nonce),
            hex::encode(ciphertext)
        )
    }

    /// [`encrypt`](Self::encrypt) for text.
    ///
    /// # Panics
    ///
    /// As [`encrypt`](Self::encrypt).
    #[must_use]
    pub fn encrypt_str(&self, plaintext: &str, aad: &[u8]) -> String {
        self.encrypt(plaintext.as_bytes(), aad)
    }

    /// Opens a value sealed by [`encrypt`](Self::encrypt) under any data key
    /// in the ring (current or older), with the same `aad`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if `sealed` is not in the `sm4gcm:v1`
    /// format, [`CryptoError::UnknownKey`] if its key is not in the ring,
    /// [`CryptoError::AuthenticationFailed`] if it was altered or `aad`
    /// differs.
    pub fn decrypt(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let parsed = Sealed::parse(sealed)?;
        let key = self
            .find_key(parsed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                key_id: parsed.key_id.to_owned(),
            })?;
        let nonce: [u8; NONCE_LEN] = parsed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let full_aad = full_aad(key.id(), aad);
        key.cipher()
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &parsed.ciphertext,
                    aad: &full_aad,
                },
            )
            .map_err(|_| CryptoError::AuthenticationFailed)
    }

    /// [`decrypt`](Self::decrypt) for text sealed by
    /// [`encrypt_str`](Self::encrypt_str).
    ///
    /// # Errors
    ///
    /// As [`decrypt`](Self::decrypt), and [`CryptoError::NotUtf8`] if the
    /// plaintext is not UTF-8.
    pub fn decrypt_str(&self, sealed: &str, aad: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(sealed, aad)?).map_err(|e| {
            e.into_bytes().zeroize();
            CryptoError::NotUtf8
        })
    }

    /// Whether `sealed` should be re-encrypted under the current key: true
    /// unless it is a well-formed value sealed under the current key.
    ///
    /// Malformed values and values under unknown keys also answer true, so a
    /// re-encryption job sends them to [`decrypt`](Self::decrypt), which
    /// reports the problem, rather than skipping them silently.
    #[must_use]
    pub fn needs_reencryption(&self, sealed: &str) -> bool {
        Sealed::parse(sealed).map_or(true, |parsed| parsed.key_id != self.current_key_id())
    }

    /// A blind index of `value` for `purpose`: hex HMAC-SM3 under the index
    /// key of `purpose || 0x00 || value`.
    ///
    /// Store it next to the encrypted value to find records by equality
    /// (e.g. a person by ID number) without storing the plaintext. It is
    /// deterministic for the same purpose and value, survives data key
    /// rotation (the index key never rotates), and differs per purpose, so
    /// indexes of different columns cannot be correlated. Normalize `value`
    /// first (e.g. uppercase the ID number's check character): only equal
    /// strings match.
    ///
    /// # Panics
    ///
    /// If `purpose` is empty or contains a NUL character; purposes are
    /// constants in the code, such as `"person.id_number"`.
    #[must_use]
    pub fn blind_index(&self, purpose: &str, value: &str) -> String {
        assert!(
            !purpose.is_empty() && !purpose.contains('\0'),
            "a blind-index purpose is a non-empty constant without NUL"
        );
        hex::encode(hmac_sm3_parts(
            &self.index_key.0,
            &[purpose.as_bytes(), b"\0", value.as_bytes()],
        ))
    }

    /// The key check value: `kcv:v1:` followed by the hex HMAC-SM3 under the
    /// index key of a fixed constant.
    ///
    /// Store it in the database when it is first created and call
    /// [`verify_check_value`](Self::verify_check_value) at every start: a
    /// missing key file (a new one would be generated) or a wrong one then
    /// stops the server instead of letting it write data no key can read.
    ///
    /// It depends on the index key only, which never rotates, so it stays
    /// valid across data key rotations. Data keys need no check of their own:
    /// their ids are derived from their bytes, so a value sealed under a key
    /// that is not in the ring fails as [`CryptoError::UnknownKey`]. The check
    /// value reveals nothing about the keys (HMAC is a pseudo-random
    /// function) and can never equal a blind index.
    #[must_use]
    pub fn check_value(&self) -> String {
        format!(
            "{CHECK_VALUE_PREFIX}{}",
            hex::encode(hmac_sm3_parts(&self.index_key.0, &[CHECK_VALUE_INPUT]))
        )
    }

    /// Verifies a [`check_value`](Self::check_value) stored earlier
    /// (comparison in constant time).
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if `stored` is not a check value at all,
    /// [`CryptoError::CheckValueMismatch`] if it was made with other keys.
    pub fn verify_check_value(&self, stored: &str) -> Result<(), CryptoError> {
        if !stored.starts_with(CHECK_VALUE_PREFIX) {
            return Err(CryptoError::Malformed);
        }
        if constant_time_eq(stored.as_bytes(), self.check_value().as_bytes()) {
            Ok(())
        } else {
            Err(CryptoError::CheckValueMismatch)
        }
    }
}

/// The test-only data key number `generation` for `seed`.
fn insecure_data_key(seed: u64, generation: u64) -> DataKey {
    let digest = Sm3::new()
        .chain_update(b"sscard INSECURE test data key\0")
        .chain_update(seed.to_be_bytes())
        .chain_update(generation.to_be_bytes())
        .finalize();
    let mut key = [0u8; DATA_KEY_LEN];
    key.copy_from_slice(&digest[..DATA_KEY_LEN]);
    let data_key = DataKey::from_bytes(&key, DateTime::<Utc>::UNIX_EPOCH);
    key.zeroize();
    data_key
}

/// The associated data actually authenticated: the sealed value's header
/// (fixed length, so no ambiguity) followed by the caller's `aad`.
fn full_aad(key_id: &str, aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(SEALED_PREFIX.len() + KEY_ID_LEN + 1 + aad.len());
    full.extend_from_slice(SEALED_PREFIX.as_bytes());
    full.extend_from_slice(key_id.as_bytes());
    full.push(b':');
    full.extend_from_slice(aad);
    full
}

/// A parsed `sm4gcm:v1:<key id>:<nonce>:<ciphertext+tag>`.
struct Sealed<'a> {
    key_id: &'a str,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl<'a> Sealed<'a> {
    fn parse(sealed: &'a str) -> Result<Self, CryptoError> {
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CryptoError::Malformed)?;
        let mut parts = rest.split(':');
        let (Some(key_id), Some(nonce_hex), Some(ciphertext_hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        if !is_key_id(key_id) {
            return Err(CryptoError::Malformed);
        }
        let nonce = decode_lower_hex(nonce_hex)?;
        let ciphertext = decode_lower_hex(ciphertext_hex)?;
        if nonce.len() != NONCE_LEN || ciphertext.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        Ok(Self {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AAD: &[u8] = b"person.id_number:42";

    fn ring() -> Keyring {
        Keyring::insecure_from_seed(7)
    }

    #[test]
    fn round_trip() {
        let ring = ring();
        let sealed = ring.encrypt_str("45022119900101123X", AAD);
        assert_eq!(
            ring.decrypt_str(&sealed, AAD).unwrap(),
            "45022119900101123X"
        );
    }

    #[test]
    fn sealed_format() {
        let ring = ring();
        let sealed = ring.encrypt(b"abc", AAD);
        let parts: Vec<&str> = sealed.split(':').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], "sm4gcm");
        assert_eq!(parts[1], "v1");
        assert_eq!(parts[2], ring.current_key_id());
        assert_eq!(parts[3].len(), 24);
        assert_eq!(parts[4].len(), 2 * (3 + 16));
        assert!(is_lower_hex(parts[3]) && is_lower_hex(parts[4]));
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let ring = ring();
        let sealed = ring.encrypt(b"", b"");
        assert_eq!(ring.decrypt(&sealed, b"").unwrap(), b"");
    }

    #[test]
    fn same_plaintext_seals_differently() {
        let ring = ring();
        let a = ring.encrypt(b"same", AAD);
        let b = ring.encrypt(b"same", AAD);
        assert_ne!(a, b);
        assert_eq!(
            ring.decrypt(&a, AAD).unwrap(),
            ring.decrypt(&b, AAD).unwrap()
        );
    }

    #[test]
    fn different_aad_fails() {
        let ring = ring();
        let sealed = ring.encrypt(b"secret", b"person.id_number:42");
        assert_eq!(
            ring.decrypt(&sealed, b"person.id_number:43"),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            ring.decrypt(&sealed, b""),
            Err(CryptoError::AuthenticationFailed)
        );
    }

    #[test]
    fn tampering_any_character_fails() {
        let ring = ring();
        let sealed = ring.encrypt(b"6217000000001234", AAD);
        let key_id_range = SEALED_PREFIX.len()..SEALED_PREFIX.len() + KEY_ID_LEN;
        let alphabet = "0123456789abcdefABCDEF:gvmsz-";
        for i in 0..sealed.len() {
            for c in alphabet.chars() {
                if sealed[i..].starts_with(c) {
                    continue;
                }
                let mut tampered = sealed.clone();
                tampered.replace_range(i..=i, c.encode_utf8(&mut [0; 4]));
                let result = ring.decrypt(&tampered, AAD);
                match result {
                    Err(CryptoError::AuthenticationFailed | CryptoError::Malformed) => {}
                    Err(CryptoError::UnknownKey { .. }) if key_id_range.contains(&i) => {}
                    other => panic!("tampering position {i} with {c:?} gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn truncating_or_extending_fails() {
        let ring = ring();
        let sealed = ring.encrypt(b"value", AAD);
        for end in 0..sealed.len() {
            assert!(ring.decrypt(&sealed[..end], AAD).is_err(), "prefix {end}");
        }
        for suffix in ["0", "00", ":", ":00"] {
            assert!(ring.decrypt(&format!("{sealed}{suffix}"), AAD).is_err());
        }
    }

    #[test]
    fn malformed_values() {
        let ring = ring();
        for bad in [
            "",
            "plain text",
            "sm4gcm:v1:",
            "sm4gcm:v2:12345678:000000000000000000000000:00000000000000000000000000000000",
            "sm4gcm:v1:1234567:000000000000000000000000:00000000000000000000000000000000",
            "sm4gcm:v1:12345678:00000000000000000000000:00000000000000000000000000000000",
            "sm4gcm:v1:12345678:000000000000000000000000:000000000000000000000000000000",
            "sm4gcm:v1:12345678:000000000000000000000000",
        ] {
            assert_eq!(ring.decrypt(bad, AAD), Err(CryptoError::Malformed), "{bad}");
        }
    }

    #[test]
    fn unknown_key_is_reported_by_id() {
        let sealed = Keyring::insecure_from_seed(1).encrypt(b"x", AAD);
        let other = Keyring::insecure_from_seed(2);
        let id = Keyring::insecure_from_seed(1).current_key_id().to_owned();
        assert_eq!(
            other.decrypt(&sealed, AAD),
            Err(CryptoError::UnknownKey { key_id: id })
        );
    }

    #[test]
    fn decrypt_str_rejects_non_utf8() {
        let ring = ring();
        let sealed = ring.encrypt(&[0xff, 0xfe], AAD);
        assert_eq!(ring.decrypt_str(&sealed, AAD), Err(CryptoError::NotUtf8));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = ring();
        let old_sealed = old.encrypt(b"old", AAD);
        let new = old.insecure_rotated(7);
        assert_ne!(new.current_key_id(), old.current_key_id());
        assert_eq!(new.data_keys().len(), 2);
        assert_eq!(new.decrypt(&old_sealed, AAD).unwrap(), b"old");
        let new_sealed = new.encrypt(b"new", AAD);
        assert!(new_sealed.contains(new.current_key_id()));
        assert!(new.needs_reencryption(&old_sealed));
        assert!(!new.needs_reencryption(&new_sealed));
        assert!(!old.needs_reencryption(&old_sealed));
        assert!(new.needs_reencryption("garbage"));
        assert_eq!(
            old.decrypt(&new_sealed, AAD),
            Err(CryptoError::UnknownKey {
                key_id: new.current_key_id().to_owned()
            })
        );
    }

    #[test]
    fn random_rotation_adds_a_current_key() {
        let mut ring = Keyring::generate_random();
        let first = ring.current_key_id().to_owned();
        ring.add_random_data_key();
        assert_ne!(ring.current_key_id(), first);
        assert_eq!(ring.data_keys().len(), 2);
        assert_eq!(ring.data_keys()[1].id(), ring.current_key_id());
    }

    #[test]
    fn insecure_from_seed_is_deterministic() {
        let a = Keyring::insecure_from_seed(3);
        let b = Keyring::insecure_from_seed(3);
        let c = Keyring::insecure_from_seed(4);
        assert_eq!(a.current_key_id(), b.current_key_id());
        assert_eq!(a.check_value(), b.check_value());
        assert_ne!(a.current_key_id(), c.current_key_id());
        assert_ne!(a.check_value(), c.check_value());
        let sealed = a.encrypt(b"x", AAD);
        assert_eq!(b.decrypt(&sealed, AAD).unwrap(), b"x");
    }

    #[test]
    fn key_id_is_derived_from_the_key() {
        let key = [9u8; DATA_KEY_LEN];
        let a = DataKey::from_bytes(&key, Utc::now());
        assert_eq!(a.id(), key_id(&key));
        assert!(is_key_id(a.id()));
        assert_ne!(a.id(), key_id(&[8u8; DATA_KEY_LEN]));
    }

    #[test]
    fn blind_index_is_deterministic_and_per_purpose() {
        let ring = ring();
        let a = ring.blind_index("person.id_number", "45022119900101123X");
        assert_eq!(
            a,
            ring.blind_index("person.id_number", "45022119900101123X")
        );
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            ring.blind_index("person.id_number", "450221199001011230")
        );
        assert_ne!(a, ring.blind_index("bank.account", "45022119900101123X"));
        assert_ne!(
            a,
            Keyring::insecure_from_seed(8).blind_index("person.id_number", "45022119900101123X")
        );
        // purpose || 0x00 || value keeps the parts apart.
        assert_ne!(ring.blind_index("ab", "c"), ring.blind_index("a", "bc"));
    }

    #[test]
    fn blind_index_survives_rotation() {
        let ring = ring();
        let rotated = ring.insecure_rotated(1);
        assert_eq!(ring.blind_index("p", "v"), rotated.blind_index("p", "v"));
        assert_eq!(ring.check_value(), rotated.check_value());
    }

    #[test]
    #[should_panic(expected = "purpose")]
    fn blind_index_rejects_empty_purpose() {
        let _ = ring().blind_index("", "v");
    }

    #[test]
    #[should_panic(expected = "purpose")]
    fn blind_index_rejects_nul_in_purpose() {
        let _ = ring().blind_index("a\0b", "v");
    }

    #[test]
    fn check_value_verifies_only_with_the_same_keys() {
        let ring = ring();
        let stored = ring.check_value();
        assert!(stored.starts_with(CHECK_VALUE_PREFIX));
        assert_eq!(ring.verify_check_value(&stored), Ok(()));
        assert_eq!(
            Keyring::insecure_from_seed(8).verify_check_value(&stored),
            Err(CryptoError::CheckValueMismatch)
        );
        assert_eq!(
            ring.verify_check_value("not a check value"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            ring.verify_check_value(&stored[..stored.len() - 1]),
            Err(CryptoError::CheckValueMismatch)
        );
    }

    #[test]
    fn debug_prints_no_secrets() {
        let ring = ring().insecure_rotated(2);
        let debug = format!("{ring:?}");
        for key in ring.data_keys() {
            assert!(debug.contains(key.id()));
            let key_hex = hex::encode(key.key_bytes());
            assert!(!debug.contains(&key_hex));
            assert!(!format!("{key:?}").contains(&key_hex));
            assert!(format!("{key:?}").starts_with(&format!("DataKey {{ id: \"{}\"", key.id())));
        }
        assert!(!debug.contains(&hex::encode(ring.index_key_bytes())));
        assert!(debug.contains(".."));
    }

    #[test]
    fn error_messages_carry_no_secrets() {
        let ring = ring();
        let sealed = ring.encrypt(b"SECRET-PLAINTEXT", AAD);
        let err = ring.decrypt(&sealed, b"other").unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
    }

    proptest! {
        #[test]
        fn prop_round_trip(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let ring = ring();
            let sealed = ring.encrypt(&plaintext, &aad);
            prop_assert_eq!(ring.decrypt(&sealed, &aad).unwrap(), plaintext);
        }

        #[test]
        fn prop_other_aad_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..64),
            aad in proptest::collection::vec(any::<u8>(), 0..32),
            other in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            prop_assume!(aad != other);
            let ring = ring();
            let sealed = ring.encrypt(&plaintext, &aad);
            prop_assert_eq!(ring.decrypt(&sealed, &other), Err(CryptoError::AuthenticationFailed));
        }

        #[test]
        fn prop_tampering_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..64),
            position in any::<proptest::sample::Index>(),
            replacement in proptest::char::range(' ', '~'),
        ) {
            let ring = ring();
            let sealed = ring.encrypt(&plaintext, AAD);
            let i = position.index(sealed.len());
            prop_assume!(!sealed[i..].starts_with(replacement));
            let mut tampered = sealed.clone();
            tampered.replace_range(i..=i, replacement.encode_utf8(&mut [0; 4]));
            prop_assert!(ring.decrypt(&tampered, AAD).is_err());
        }
    }
}
