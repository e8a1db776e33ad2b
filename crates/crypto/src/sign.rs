//! SM2 digital signatures (GB/T 32918.2-2016, GM/T 0003.2-2012) with the
//! SM3 hash: the bureau signs what a 业务反馈单 certifies, anyone verifies
//! it with the published public key.
//!
//! The user identity (`ID_A` in the standard) is the default of GM/T
//! 0009-2012, `1234567812345678`, which GmSSL and BouncyCastle use unless
//! told otherwise (OpenSSL 3.0 needs `-pkeyopt distid:1234567812345678`),
//! so a third party can check a signature with their own tools. Signatures are the raw
//! 64 bytes `r ‖ s` (each 32 bytes, big-endian); public keys are SEC1
//! uncompressed points (`04 ‖ x ‖ y`, 65 bytes) or SPKI PEM.

use std::fmt;

use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

/// The SM2 user identity of every signature: GM/T 0009-2012's default.
pub const SM2_USER_ID: &str = "1234567812345678";

/// Why an SM2 key could not be read. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureKeyError {
    /// The text is not a PEM private key of the SM2 curve (PKCS#8 `PRIVATE
    /// KEY` or SEC1 `EC PRIVATE KEY`).
    #[error(
        "not an SM2 private key in PEM (PKCS#8 \"PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\" on the curve sm2p256v1): {0}"
    )]
    Pem(String),
    /// The bytes are not a valid SM2 secret scalar.
    #[error("not a valid SM2 secret key")]
    Secret,
    /// The bytes are not an SM2 public key (a SEC1 point on the curve).
    #[error("not a valid SM2 public key")]
    Public,
}

/// An SM2 private key. `Debug` shows only the key id; the secret is zeroized
/// on drop (by the `sm2` crate).
#[derive(Clone)]
pub struct Sm2SigningKey {
    inner: SigningKey,
}

impl Sm2SigningKey {
    /// A new key from the operating system's random source.
    ///
    /// # Panics
    ///
    /// If the operating system's random source fails (see
    /// [`crate::random_bytes`]).
    #[must_use]
    pub fn generate() -> Self {
        let secret =
            sm2::SecretKey::try_generate().expect("the operating system's random source failed");
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &sm2::SecretKey) -> Self {
        Self {
            inner: SigningKey::new(SM2_USER_ID, secret)
                .expect("the default user id is short enough"),
        }
    }

    /// Reads a PEM private key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, as
    /// `openssl genpkey -algorithm SM2` writes it) or SEC1 (`-----BEGIN EC
    /// PRIVATE KEY-----`).
    ///
    /// # Errors
    ///
    /// [`SignatureKeyError::Pem`] for anything else, including keys of other
    /// curves.
    pub fn from_pem(pem: &str) -> Result<Self, SignatureKeyError> {
        let secret = sm2::SecretKey::from_pem(pem.trim())
            .map_err(|error| SignatureKeyError::Pem(error.to_string()))?;
        Ok(Self::from_secret(&secret))
    }

    /// The key from its 32-byte secret scalar (see [`Self::secret_bytes`]).
    ///
    /// # Errors
    ///
    /// [`SignatureKeyError::Secret`] when the bytes are not a valid scalar.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, SignatureKeyError> {
        let inner =
            SigningKey::from_slice(SM2_USER_ID, bytes).map_err(|_| SignatureKeyError::Secret)?;
        Ok(Self { inner })
    }

    /// The 32-byte secret scalar, big-endian: seal it before storing it.
    #[must_use]
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.inner.to_bytes().to_vec())
    }

    /// [`Self::secret_bytes`] as 64 lowercase hex characters.
    #[must_use]
    pub fn secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.secret_bytes().as_slice()))
    }

    /// The key from [`Self::secret_hex`].
    ///
    /// # Errors
    ///
    /// [`SignatureKeyError::Secret`] when the text is not the hex of a valid
    /// scalar.
    pub fn from_secret_hex(text: &str) -> Result<Self, SignatureKeyError> {
        let bytes =
            Zeroizing::new(hex::decode(text.trim()).map_err(|_| SignatureKeyError::Secret)?);
        Self::from_secret_bytes(&bytes)
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), e.g. to write
    /// a key file for `[slip] signing_key_file`.
    ///
    /// # Panics
    ///
    /// Never for a valid key (the encoding cannot fail).
    #[must_use]
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let secret = sm2::SecretKey::from(self.inner.as_nonzero_scalar());
        secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an SM2 key encodes as PKCS#8")
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> Sm2PublicKey {
        Sm2PublicKey {
            inner: self.inner.verifying_key().clone(),
        }
    }

    /// Signs `message` (SM3 over `Z_A ‖ message`, deterministic nonce per
    /// RFC 6979): the 64 bytes `r ‖ s`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.inner.sign(message);
        signature.to_bytes().to_vec()
    }
}

impl fmt::Debug for Sm2SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2SigningKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// An SM2 public key; two are equal when their points are.
#[derive(Clone)]
pub struct Sm2PublicKey {
    inner: VerifyingKey,
}

impl PartialEq for Sm2PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_sec1_bytes() == other.to_sec1_bytes()
    }
}

impl Eq for Sm2PublicKey {}

impl Sm2PublicKey {
    /// Reads a SEC1 point (uncompressed `04 ‖ x ‖ y` or compressed).
    ///
    /// # Errors
    ///
    /// [`SignatureKeyError::Public`] when the bytes are not a point of the
    /// curve.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, SignatureKeyError> {
        let inner = VerifyingKey::from_sec1_bytes(SM2_USER_ID, bytes)
            .map_err(|_| SignatureKeyError::Public)?;
        Ok(Self { inner })
    }

    /// Reads the hex of a SEC1 point (see [`Self::to_sec1_hex`]).
    ///
    /// # Errors
    ///
    /// [`SignatureKeyError::Public`].
    pub fn from_sec1_hex(text: &str) -> Result<Self, SignatureKeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SignatureKeyError::Public)?;
        Self::from_sec1_bytes(&bytes)
    }

    /// The uncompressed SEC1 point, 65 bytes.
    #[must_use]
    pub fn to_sec1_bytes(&self) -> Vec<u8> {
        self.inner.to_sec1_point(false).as_bytes().to_vec()
    }

    /// [`Self::to_sec1_bytes`] as 130 lowercase hex characters.
    #[must_use]
    pub fn to_sec1_hex(&self) -> String {
        hex::encode(self.to_sec1_bytes())
    }

    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), which `openssl
    /// pkey -pubin` and GmSSL read.
    ///
    /// # Panics
    ///
    /// Never for a valid key (the encoding cannot fail).
    #[must_use]
    pub fn to_pem(&self) -> String {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .expect("an SM2 public key encodes as SPKI")
    }

    /// A short name of the key: the first 16 hex characters of the SM3 of
    /// its uncompressed point.
    #[must_use]
    pub fn key_id(&self) -> String {
        crate::sm3_hex(&self.to_sec1_bytes())[..16].to_owned()
    }

    /// Whether `signature` (64 bytes `r ‖ s`) is this key's signature of
    /// `message`. Anything malformed is simply not valid.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .is_ok_and(|signature| self.inner.verify(message, &signature).is_ok())
    }
}

impl fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2PublicKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_only_and_only_for_its_message() {
        let key = Sm2SigningKey::generate();
        let public = key.public_key();
        let signature = key.sign(b"slip content");
        assert_eq!(signature.len(), 64);
        assert!(public.verify(b"slip content", &signature));
        assert!(!public.verify(b"slip content!", &signature));
        let mut altered = signature.clone();
        altered[10] ^= 1;
        assert!(!public.verify(b"slip content", &altered));
        assert!(!public.verify(b"slip content", &signature[..63]));
        assert!(!public.verify(b"slip content", b""));
        let other = Sm2SigningKey::generate();
        assert!(!other.public_key().verify(b"slip content", &signature));
    }

    #[test]
    fn keys_round_trip_through_secret_bytes_pem_and_sec1() {
        let key = Sm2SigningKey::generate();
        let again = Sm2SigningKey::from_secret_bytes(&key.secret_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let again = Sm2SigningKey::from_secret_hex(&key.secret_hex()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(Sm2SigningKey::from_secret_hex("zz").is_err());
        let from_pem = Sm2SigningKey::from_pem(&key.to_pkcs8_pem()).unwrap();
        assert_eq!(from_pem.public_key(), key.public_key());
        let public = Sm2PublicKey::from_sec1_hex(&key.public_key().to_sec1_hex()).unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(public.to_sec1_bytes().len(), 65);
        assert_eq!(public.to_sec1_bytes()[0], 4);
        assert_eq!(public.key_id().len(), 16);
        assert!(public.to_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(Sm2SigningKey::from_secret_bytes(&[0u8; 32]).is_err());
        assert!(Sm2PublicKey::from_sec1_hex("04abcd").is_err());
        assert!(matches!(
            Sm2SigningKey::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(SignatureKeyError::Pem(_))
        ));
    }

    /// A PKCS#8 key as `openssl genpkey -algorithm SM2` (OpenSSL 3.0) writes
    /// it, and its signature of "abc" by `openssl pkeyutl -sign -rawin
    /// -digest sm3 -pkeyopt distid:1234567812345678` (DER, here as r ‖ s):
    /// the key reads, gives OpenSSL's public key, and OpenSSL's signature
    /// verifies. (OpenSSL 3.0 signs with an empty user id unless told the
    /// standard default, hence the `distid` option.)
    #[test]
    fn interoperates_with_openssl() {
        let pem = "-----BEGIN PRIVATE KEY-----\n\
            MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg0jLsi4kATicltyIW\n\
            I8zmdCdOq2Sx0nSBkxFNrkLzfTKhRANCAASVbG8ODfrkpn7pUPbe4I8oIEVjACL4\n\
            zPbsDz+uq8NMggpvs7vnAEyDuGtMR44jD/cd4LruuWJ48TavuNDYGXpb\n\
            -----END PRIVATE KEY-----\n";
        let key = Sm2SigningKey::from_pem(pem).expect("OpenSSL's SM2 key reads");
        let public_pem = "-----BEGIN PUBLIC KEY-----\n\
            MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAElWxvDg365KZ+6VD23uCPKCBFYwAi\n\
            +Mz27A8/rqvDTIIKb7O75wBMg7hrTEeOIw/3HeC67rliePE2r7jQ2Bl6Ww==\n\
            -----END PUBLIC KEY-----\n";
        assert_eq!(key.public_key().to_pem(), public_pem);
        let openssl_signature = hex::decode(
            "C1FBE8A5665E8C2D1C451E6CFEAB8CE6931B0E74E1596CEC76A2A2D797563F49\
             C67A12F5520340E09E2543DB211C57486E0FBDE655D062EE6787C46D0F5C354A",
        )
        .unwrap();
        assert!(key.public_key().verify(b"abc", &openssl_signature));
        assert!(!key.public_key().verify(b"abd", &openssl_signature));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = Sm2SigningKey::generate();
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public_key().key_id()), "{shown}");
        assert!(!shown.contains(&hex::encode(key.secret_bytes().as_slice())));
    }
}
