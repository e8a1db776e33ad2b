//! sscard's cryptographic module: every cryptographic operation of the system
//! lives behind this crate's small API, so that a certified cryptographic
//! module (GB/T 39786-2021 asks for one in government systems) can replace it
//! later without touching the rest of the code.
//!
//! The algorithms are the Chinese national ones, from the RustCrypto project:
//!
//! - [`sm3()`]: the SM3 hash (GB/T 32905-2016), and [`hmac_sm3`]: HMAC
//!   (GB/T 15852.2 / ISO/IEC 9797-2) over SM3;
//! - SM4 (GB/T 32907-2016) in Galois/Counter Mode (the GCM of NIST SP 800-38D,
//!   as GB/T 36624 lists for SM4) for field encryption, see [`Keyring`];
//! - HMAC-SM3 blind indexes for equality look-ups on encrypted fields, see
//!   [`Keyring::blind_index`];
//! - SM2 signatures (GB/T 32918.2-2016) with SM3, see [`Sm2SigningKey`] and
//!   [`Sm2PublicKey`] (the 业务反馈单's signature, the bank interface);
//! - SM4-GCM in segments for the batch files exchanged with banks, see
//!   [`Sm4StreamWriter`] and [`TransportKey`].
//!
//! The RustCrypto implementations have not been independently audited or
//! certified; that is why they stay behind this module.
//!
//! Keys live in a JSON key file ([`KeyFile`]) next to, never inside, the
//! database. The database stores a [`Keyring::check_value`] so a missing or
//! wrong key file stops the server instead of letting it write data nobody can
//! read.

mod keyfile;
mod keyring;
mod sign;
mod transport;

pub use keyfile::{KeyFile, KeyFileError, KeyFileWarning};
pub use keyring::{CryptoError, DataKey, Keyring};
pub use sign::{SM2_USER_ID, SignatureKeyError, Sm2PublicKey, Sm2SigningKey};
pub use transport::{
    SEGMENT_LEN, Sm3Hasher, Sm4StreamReader, Sm4StreamWriter, TRANSPORT_MAGIC, TransportError,
    TransportKey, is_transport_encrypted, sm2_public_key_parse, sm2_signature_from_der,
    sm2_signature_to_der,
};
pub use zeroize::Zeroizing;

use hmac::{KeyInit, Mac};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;

/// The SM3 cryptographic hash (GB/T 32905-2016, ISO/IEC 10118-3) of `data`.
#[must_use]
pub fn sm3(data: &[u8]) -> [u8; 32] {
    Sm3::digest(data).into()
}

/// [`sm3()`] of `data` as 64 lowercase hex characters.
#[must_use]
pub fn sm3_hex(data: &[u8]) -> String {
    hex::encode(sm3(data))
}

/// SM3 of everything `reader` yields, as lowercase hex; streams, so a large
/// file (a database backup) is never held in memory.
///
/// # Errors
///
/// Reading fails.
pub fn sm3_hex_reader(mut reader: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sm3::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// HMAC (GB/T 15852.2-2012, RFC 2104) with the SM3 hash: a keyed 256-bit
/// message authentication code of `data` under `key` (any length).
#[must_use]
pub fn hmac_sm3(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac_sm3_parts(key, &[data])
}

/// HMAC-SM3 over the concatenation of `parts`, without allocating it.
pub(crate) fn hmac_sm3_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <hmac::Hmac<Sm3> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths
/// (not on where they differ): compare secrets, MACs and tokens with this.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `N` bytes from the operating system's cryptographically secure random
/// number generator (`getrandom`).
///
/// # Panics
///
/// If the operating system's random source fails, which on supported
/// platforms does not happen; there is no safe way to continue without it.
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm3_matches_gb_t_32905_example_1() {
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn sm3_matches_gb_t_32905_example_2() {
        let message = b"abcd".repeat(16);
        assert_eq!(message.len(), 64);
        assert_eq!(
            sm3_hex(&message),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    #[test]
    fn sm3_hex_is_the_hex_of_sm3() {
        assert_eq!(sm3_hex(b""), hex::encode(sm3(b"")));
        assert_eq!(sm3_hex(b"").len(), 64);
    }

    #[test]
    fn hmac_sm3_is_deterministic_and_keyed() {
        let a = hmac_sm3(b"key one", b"message");
        assert_eq!(a, hmac_sm3(b"key one", b"message"));
        assert_ne!(a, hmac_sm3(b"key two", b"message"));
        assert_ne!(a, hmac_sm3(b"key one", b"message!"));
        assert_ne!(a, sm3(b"message"));
    }

    #[test]
    fn hmac_sm3_parts_equals_hmac_of_concatenation() {
        assert_eq!(
            hmac_sm3_parts(b"k", &[b"ab", b"", b"cd"]),
            hmac_sm3(b"k", b"abcd")
        );
    }

    #[test]
    fn hmac_sm3_accepts_long_keys() {
        // Keys longer than the 64-byte block are hashed first (RFC 2104).
        let long = [7u8; 100];
        assert_eq!(hmac_sm3(&long, b"x"), hmac_sm3(&sm3(&long), b"x"));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
        let empty: [u8; 0] = random_bytes();
        assert!(empty.is_empty());
    }
}
