//! Transport encryption of the batch files exchanged with cooperating banks,
//! and the DER form of SM2 signatures that banks' tools produce.
//!
//! # The encrypted file (`SSCSM4G1`)
//!
//! A batch file can be encrypted for transport with a 128-bit SM4 key shared
//! with the bank out of band ([`TransportKey`], a text file of 32 hex
//! characters). The format is a chunked ("STREAM") construction over SM4-GCM,
//! so files of any size are encrypted and decrypted in bounded memory and
//! every truncation, reordering or change is detected:
//!
//! ```text
//! header   = "SSCSM4G1" (8 ASCII bytes) ‖ nonce prefix (7 random bytes)
//! segment  = SM4-GCM(key, nonce = prefix ‖ counter (u32, big-endian, from 0)
//!                                  ‖ last (0x01 for the final segment, else 0x00),
//!                    aad = header (15 bytes), plaintext chunk) = ciphertext ‖ 16-byte tag
//! file     = header ‖ segment₀ ‖ segment₁ ‖ … ‖ segmentₙ
//! ```
//!
//! Every plaintext chunk is [`SEGMENT_LEN`] (65,536) bytes except the final
//! one, which has 0 to 65,536 bytes; there is always exactly one final
//! segment (an empty plaintext gives one empty final segment, 16 bytes).

use std::io::{self, Read, Write};

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use sm4::Sm4;
use zeroize::Zeroizing;

use crate::random_bytes;

type Sm4Gcm = AesGcm<Sm4, U12>;

/// The magic bytes an encrypted batch file starts with.
pub const TRANSPORT_MAGIC: &[u8; 8] = b"SSCSM4G1";
/// Plaintext bytes per segment (all but the final one).
pub const SEGMENT_LEN: usize = 64 * 1024;
const PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = TRANSPORT_MAGIC.len() + PREFIX_LEN;
const TAG_LEN: usize = 16;

/// Why a transport key or an encrypted file was refused. No message carries
/// key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The key text is not 32 hexadecimal characters.
    #[error("the transport key must be 32 hexadecimal characters (a 128-bit SM4 key)")]
    KeyFormat,
    /// The file does not start with the `SSCSM4G1` header.
    #[error("not an SM4-encrypted batch file (the SSCSM4G1 header is missing)")]
    NotEncrypted,
    /// A segment did not authenticate: wrong key, or the file was changed,
    /// truncated or reordered.
    #[error(
        "the encrypted file does not decrypt: wrong transport key, or the file was changed or cut short"
    )]
    Authentication,
    /// More than 2³² segments.
    #[error("the file is too large for one encrypted stream")]
    TooLong,
}

impl From<TransportError> for io::Error {
    fn from(error: TransportError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

/// A 128-bit SM4 key shared with a bank for the transport of batch files.
/// Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct TransportKey(Zeroizing<[u8; 16]>);

impl TransportKey {
    /// A new random key.
    #[must_use]
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_bytes()))
    }

    /// Reads a key file's text: 32 hex characters; blank lines and lines
    /// starting with `#` are ignored.
    ///
    /// # Errors
    ///
    /// [`TransportError::KeyFormat`].
    pub fn parse(text: &str) -> Result<Self, TransportError> {
        let hex: String = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect();
        let bytes = Zeroizing::new(hex::decode(hex).map_err(|_| TransportError::KeyFormat)?);
        let key: [u8; 16] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| TransportError::KeyFormat)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// The key as 32 lowercase hex characters (the key file's content).
    #[must_use]
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    fn cipher(&self) -> Sm4Gcm {
        Sm4Gcm::new_from_slice(self.0.as_ref()).expect("an SM4 key is 16 bytes")
    }
}

impl std::fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportKey(***)")
    }
}

fn nonce(prefix: &[u8; PREFIX_LEN], counter: u32, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..PREFIX_LEN].copy_from_slice(prefix);
    nonce[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Encrypts everything written to it into `inner` in the `SSCSM4G1` format;
/// call [`Sm4StreamWriter::finish`] to write the final segment.
pub struct Sm4StreamWriter<W: Write> {
    inner: W,
    cipher: Sm4Gcm,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    buffer: Zeroizing<Vec<u8>>,
}

impl<W: Write> Sm4StreamWriter<W> {
    /// Writes the header and returns the writer.
    ///
    /// # Errors
    ///
    /// Writing the header fails.
    pub fn new(key: &TransportKey, mut inner: W) -> io::Result<Self> {
        let prefix: [u8; PREFIX_LEN] = random_bytes();
        let mut header = [0u8; HEADER_LEN];
        header[..TRANSPORT_MAGIC.len()].copy_from_slice(TRANSPORT_MAGIC);
        header[TRANSPORT_MAGIC.len()..].copy_from_slice(&prefix);
        inner.write_all(&header)?;
        Ok(Self {
            inner,
            cipher: key.cipher(),
            header,
            prefix,
            counter: 0,
            buffer: Zeroizing::new(Vec::with_capacity(SEGMENT_LEN)),
        })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let nonce = nonce(&self.prefix, self.counter, last);
        let sealed = self
            .cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &self.buffer,
                    aad: &self.header,
                },
            )
            .map_err(|_| io::Error::other("SM4-GCM encryption failed"))?;
        self.inner.write_all(&sealed)?;
        self.buffer.clear();
        self.counter = self.counter.checked_add(1).ok_or(TransportError::TooLong)?;
        Ok(())
    }

    /// Writes the final segment and flushes; gives back the inner writer.
    ///
    /// # Errors
    ///
    /// Writing fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Sm4StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A full buffer is sealed only when more data comes, so that the
        // final segment is never empty unless the whole stream is.
        if self.buffer.len() == SEGMENT_LEN && !data.is_empty() {
            self.seal(false)?;
        }
        let take = data.len().min(SEGMENT_LEN - self.buffer.len());
        self.buffer.extend_from_slice(&data[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts an `SSCSM4G1` file as it is read; a changed, truncated or
/// reordered file fails with [`TransportError::Authentication`] (as an
/// `io::Error` of kind `InvalidData`) before any of its bad plaintext is
/// returned.
pub struct Sm4StreamReader<R: Read> {
    inner: R,
    cipher: Sm4Gcm,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    /// The next segment read ahead (to know whether the current one is last).
    ahead: Vec<u8>,
    plain: Zeroizing<Vec<u8>>,
    position: usize,
    done: bool,
}

impl<R: Read> Sm4StreamReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotEncrypted`] (as `InvalidData`) without the
    /// header; reading fails.
    pub fn new(key: &TransportKey, mut inner: R) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        read_up_to(&mut inner, &mut header).and_then(|read| {
            if read == HEADER_LEN && header.starts_with(TRANSPORT_MAGIC) {
                Ok(())
            } else {
                Err(TransportError::NotEncrypted.into())
            }
        })?;
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[TRANSPORT_MAGIC.len()..]);
        let mut reader = Self {
            inner,
            cipher: key.cipher(),
            header,
            prefix,
            counter: 0,
            ahead: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
            position: 0,
            done: false,
        };
        reader.ahead = reader.read_segment()?;
        Ok(reader)
    }

    fn read_segment(&mut self) -> io::Result<Vec<u8>> {
        let mut segment = vec![0u8; SEGMENT_LEN + TAG_LEN];
        let read = read_up_to(&mut self.inner, &mut segment)?;
        segment.truncate(read);
        Ok(segment)
    }

    fn open_next(&mut self) -> io::Result<()> {
        let current = std::mem::take(&mut self.ahead);
        if current.len() < TAG_LEN {
            return Err(TransportError::Authentication.into());
        }
        let last = current.len() < SEGMENT_LEN + TAG_LEN || {
            self.ahead = self.read_segment()?;
            self.ahead.is_empty()
        };
        let nonce = nonce(&self.prefix, self.counter, last);
        let plain = self
            .cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &current,
                    aad: &self.header,
                },
            )
            .map_err(|_| TransportError::Authentication)?;
        self.plain = Zeroizing::new(plain);
        self.position = 0;
        self.counter = self.counter.checked_add(1).ok_or(TransportError::TooLong)?;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for Sm4StreamReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.position == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.open_next()?;
        }
        let take = out.len().min(self.plain.len() - self.position);
        out[..take].copy_from_slice(&self.plain[self.position..self.position + take]);
        self.position += take;
        Ok(take)
    }
}

/// Reads until `buffer` is full or the input ends; gives the bytes read.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// SM3 over data given piece by piece (a batch file's body as it is
/// written or read), without holding it.
#[derive(Clone, Default)]
pub struct Sm3Hasher(sm3::Sm3);

impl Sm3Hasher {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        sm3::Digest::update(&mut self.0, data);
    }

    /// The SM3 of everything given, as 64 lowercase hex characters.
    #[must_use]
    pub fn finalize_hex(self) -> String {
        hex::encode(sm3::Digest::finalize(self.0))
    }
}

impl std::fmt::Debug for Sm3Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm3Hasher")
    }
}

/// Whether `start` (the first bytes of a file) is an encrypted batch file.
#[must_use]
pub fn is_transport_encrypted(start: &[u8]) -> bool {
    start.starts_with(TRANSPORT_MAGIC)
}

/// An SM2 signature in ASN.1 DER (`SEQUENCE { r INTEGER, s INTEGER }`, what
/// OpenSSL and BouncyCastle write) as the 64 bytes `r ‖ s` that
/// [`crate::Sm2PublicKey::verify`] takes; `None` when it is not that DER.
#[must_use]
pub fn sm2_signature_from_der(der: &[u8]) -> Option<Vec<u8>> {
    sm2::dsa::Signature::from_der(der)
        .ok()
        .map(|signature| signature.to_bytes().to_vec())
}

/// The 64 bytes `r ‖ s` of an SM2 signature as ASN.1 DER (for `openssl
/// pkeyutl -verify`); `None` unless 64 bytes with non-zero `r` and `s`.
#[must_use]
pub fn sm2_signature_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    sm2::dsa::Signature::from_slice(raw)
        .ok()
        .map(|signature| signature.to_der().as_bytes().to_vec())
}

/// Reads an SM2 public key given as SubjectPublicKeyInfo PEM (`-----BEGIN
/// PUBLIC KEY-----`, as `openssl pkey -pubout` writes it for a key made by
/// `openssl genpkey -algorithm SM2`) or as the hex of its SEC1 point
/// (`04 ‖ x ‖ y`); `None` for anything else.
#[must_use]
pub fn sm2_public_key_parse(text: &str) -> Option<crate::Sm2PublicKey> {
    use sm2::pkcs8::DecodePublicKey;
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        let key = sm2::PublicKey::from_public_key_pem(text).ok()?;
        return crate::Sm2PublicKey::from_sec1_bytes(&key.to_sec1_bytes()).ok();
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    crate::Sm2PublicKey::from_sec1_hex(&compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encrypt(key: &TransportKey, plain: &[u8]) -> Vec<u8> {
        let mut writer = Sm4StreamWriter::new(key, Vec::new()).unwrap();
        // Odd-sized writes, as a line writer would do.
        for chunk in plain.chunks(1000) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap()
    }

    fn decrypt(key: &TransportKey, sealed: &[u8]) -> io::Result<Vec<u8>> {
        let mut reader = Sm4StreamReader::new(key, sealed)?;
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain)?;
        Ok(plain)
    }

    fn sizes() -> Vec<usize> {
        vec![
            0,
            1,
            SEGMENT_LEN - 1,
            SEGMENT_LEN,
            SEGMENT_LEN + 1,
            3 * SEGMENT_LEN,
            3 * SEGMENT_LEN + 17,
        ]
    }

    #[test]
    fn round_trips_at_every_segment_boundary() {
        let key = TransportKey::generate();
        for size in sizes() {
            let plain: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let sealed = encrypt(&key, &plain);
            assert!(is_transport_encrypted(&sealed));
            let segments = size.div_ceil(SEGMENT_LEN).max(1);
            assert_eq!(
                sealed.len(),
                HEADER_LEN + size + segments * TAG_LEN,
                "{size}"
            );
            assert_eq!(decrypt(&key, &sealed).unwrap(), plain, "{size}");
        }
    }

    #[test]
    fn truncation_reordering_changes_and_wrong_keys_are_detected() {
        let key = TransportKey::generate();
        let plain: Vec<u8> = (0..3 * SEGMENT_LEN + 5)
            .map(|i| u8::try_from(i % 7).unwrap())
            .collect();
        let sealed = encrypt(&key, &plain);
        let segment = SEGMENT_LEN + TAG_LEN;
        // Cut at a segment boundary: the last remaining segment is not final.
        for cut in [
            HEADER_LEN + segment,
            HEADER_LEN + 2 * segment,
            sealed.len() - 1,
        ] {
            let error = decrypt(&key, &sealed[..cut]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "cut at {cut}");
        }
        assert!(
            decrypt(&key, &sealed[..HEADER_LEN]).is_err(),
            "no segment at all"
        );
        // Two segments swapped.
        let mut swapped = sealed.clone();
        let (first, second) = (HEADER_LEN, HEADER_LEN + segment);
        let one = sealed[first..second].to_vec();
        swapped[first..second].copy_from_slice(&sealed[second..second + segment]);
        swapped[second..second + segment].copy_from_slice(&one);
        assert!(decrypt(&key, &swapped).is_err());
        // One bit changed, in the header and in the body.
        for at in [9, HEADER_LEN + 100, sealed.len() - 3] {
            let mut changed = sealed.clone();
            changed[at] ^= 0x10;
            assert!(decrypt(&key, &changed).is_err(), "bit at {at}");
        }
        assert!(decrypt(&TransportKey::generate(), &sealed).is_err());
        let error = decrypt(&key, b"H\tSSCARD-BANK\t1\n").unwrap_err();
        assert!(error.to_string().contains("SSCSM4G1"));
    }

    #[test]
    fn the_incremental_sm3_is_the_sm3_of_the_whole() {
        let mut hasher = Sm3Hasher::new();
        hasher.update(b"ab");
        hasher.update(b"");
        hasher.update(b"c");
        assert_eq!(hasher.finalize_hex(), crate::sm3_hex(b"abc"));
    }

    #[test]
    fn keys_parse_from_their_file() {
        let key = TransportKey::generate();
        let text = format!("# ICBC transport key\n{}\n", key.to_hex().as_str());
        let again = TransportKey::parse(&text).unwrap();
        assert_eq!(again.to_hex().as_str(), key.to_hex().as_str());
        for bad in ["", "abcd", &"g".repeat(32), &"a".repeat(34)] {
            assert_eq!(
                TransportKey::parse(bad).unwrap_err(),
                TransportError::KeyFormat
            );
        }
        assert_eq!(format!("{key:?}"), "TransportKey(***)");
    }

    #[test]
    fn der_and_raw_signatures_convert_both_ways() {
        let key = crate::Sm2SigningKey::generate();
        let raw = key.sign(b"canonical request");
        let der = sm2_signature_to_der(&raw).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(sm2_signature_from_der(&der).unwrap(), raw);
        assert!(
            key.public_key()
                .verify(b"canonical request", &sm2_signature_from_der(&der).unwrap())
        );
        assert!(sm2_signature_from_der(&raw).is_none());
        assert!(sm2_signature_to_der(&raw[..63]).is_none());
    }

    #[test]
    fn public_keys_parse_from_openssl_pem_and_hex() {
        let pem = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEAPBfgWmxaPyYRSHfvt3s+5ZECnRH
7Ol7BqlFcZPuJmy6Kdw//zcbQETfcgoVPzgtZepIq76tZQF0SE35H1wybg==
-----END PUBLIC KEY-----
";
        let key = sm2_public_key_parse(pem).unwrap();
        assert_eq!(key.to_pem(), pem);
        assert_eq!(sm2_public_key_parse(&key.to_sec1_hex()).unwrap(), key);
        // A signature OpenSSL 3.0 made of "hello" with the private half
        // (pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678).
        let der = hex::decode("304502202d130513614339b8436086bc2f8c212595dd5576cdba106065a71ffae9be17e20221008c4dca0c4019a8f8d3c26af232d75e70a9caa65e1681a2ba431ae61232464bc7").unwrap();
        let raw = sm2_signature_from_der(&der).unwrap();
        assert!(key.verify(b"hello", &raw));
        assert!(!key.verify(b"hello!", &raw));
        assert!(
            sm2_public_key_parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_none()
        );
        assert!(sm2_public_key_parse("04abcd").is_none());
        assert!(sm2_public_key_parse("").is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_plaintext_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..200_000)) {
            let key = TransportKey::generate();
            prop_assert_eq!(decrypt(&key, &encrypt(&key, &plain)).unwrap(), plain);
        }
    }
}
