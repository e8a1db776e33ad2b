//! The key file: the key ring as JSON on disk, readable by the server user
//! only.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::keyring::{DATA_KEY_LEN, DataKey, INDEX_KEY_LEN, Keyring, is_key_id, key_id};
use crate::random_bytes;

/// The only key file format so far.
const FORMAT: u64 = 1;

/// Why a key file could not be created, read or rewritten.
///
/// No message contains key material.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// There is no key file at the path.
    #[error("key file {} does not exist", path.display())]
    NotFound {
        /// The key file's path.
        path: PathBuf,
    },
    /// [`KeyFile::generate`] refuses to overwrite an existing key file.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The key file's path.
        path: PathBuf,
    },
    /// The key file (or its directory) could not be read or written.
    #[error("cannot access key file {}: {source}", path.display())]
    Io {
        /// The key file's path.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The key file is not a valid key file (bad JSON, wrong structure,
    /// unsupported format, no data keys, duplicate ids).
    #[error("key file {} is malformed: {reason}", path.display())]
    Malformed {
        /// The key file's path.
        path: PathBuf,
        /// What is wrong, without key material.
        reason: String,
    },
    /// A key in the file is invalid (bad hex, wrong length, or an id that
    /// does not match the key bytes).
    #[error("key file {}: {key} is invalid: {reason}", path.display())]
    BadKey {
        /// The key file's path.
        path: PathBuf,
        /// Which key: `data key <id>` or `index key`.
        key: String,
        /// What is wrong, without key material.
        reason: String,
    },
    /// The file's `current` names no data key in the file.
    #[error("key file {}: current data key {current} is not among its data keys", path.display())]
    CurrentKeyMissing {
        /// The key file's path.
        path: PathBuf,
        /// The id the file names as current.
        current: String,
    },
}

/// A problem with a key file that does not stop the server but should be
/// logged; see [`Keyring::warnings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileWarning {
    /// The key file may be read or written by users other than its owner
    /// (unix mode wider than 0600).
    PermissionsTooOpen {
        /// The key file's path.
        path: PathBuf,
        /// Its permission bits, e.g. `0o644`.
        mode: u32,
    },
}

impl fmt::Display for KeyFileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermissionsTooOpen { path, mode } => write!(
                f,
                "key file {} has permissions {mode:04o}; it should be 0600 \
                 (readable and writable by the server user only): chmod 600 it",
                path.display()
            ),
        }
    }
}

/// The key file: the [`Keyring`] as JSON, mode 0600, kept outside the
/// database and backed up separately from it.
///
/// ```json
/// {
///   "format": 1,
///   "current": "1a2b3c4d",
///   "data_keys": [
///     { "id": "1a2b3c4d", "key_hex": "<32 hex>", "created_at": "2025-01-02T03:04:05Z" }
///   ],
///   "index_key_hex": "<64 hex>"
/// }
/// ```
///
/// Data key ids are derived from the key bytes ([`DataKey::id`]) and checked
/// on load. Losing this file makes every encrypted field unreadable.
#[derive(Debug)]
pub enum KeyFile {}

impl KeyFile {
    /// Creates a new key file at `path` with one random data key and a
    /// random index key, and returns its key ring.
    ///
    /// The file is created with mode 0600 (on unix) and synced to disk;
    /// missing parent directories are created with mode 0700.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::AlreadyExists`] if a file (or anything else) is at
    /// `path` — an existing key file is never overwritten;
    /// [`KeyFileError::Io`] if it cannot be written.
    pub fn generate(path: &Path) -> Result<Keyring, KeyFileError> {
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyFileError::AlreadyExists {
                path: path.to_owned(),
            });
        }
        let io_err = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = parent_dir(path);
        if !dir.exists() {
            create_private_dir(dir).map_err(io_err)?;
        }
        let ring = Keyring::generate_random();
        let json = to_json(&ring);
        let mut file = open_new_private(path).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                KeyFileError::AlreadyExists {
                    path: path.to_owned(),
                }
            } else {
                io_err(source)
            }
        })?;
        if let Err(source) = write_and_sync(&mut file, &json) {
            drop(file);
            let _ = fs::remove_file(path);
            return Err(io_err(source));
        }
        sync_dir(dir).map_err(io_err)?;
        Ok(ring)
    }

    /// Reads the key file at `path`.
    ///
    /// Permissions wider than 0600 do not fail the load; they are reported in
    /// [`Keyring::warnings`] for the caller to log.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::NotFound`] if there is no file, [`KeyFileError::Io`]
    /// if it cannot be read, [`KeyFileError::Malformed`] if it is not a
    /// format-1 key file, [`KeyFileError::BadKey`] if a key has bad hex, the
    /// wrong length or an id that does not match it,
    /// [`KeyFileError::CurrentKeyMissing`] if `current` names no data key.
    pub fn load(path: &Path) -> Result<Keyring, KeyFileError> {
        let bytes = Zeroizing::new(fs::read(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                KeyFileError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                KeyFileError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        })?);
        let mut warnings = Vec::new();
        if let Some(mode) = too_open_mode(path) {
            warnings.push(KeyFileWarning::PermissionsTooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let json: FileJson =
            serde_json::from_slice(&bytes).map_err(|e| KeyFileError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        from_json(path, &json, warnings)
    }

    /// [`load`](Self::load)s the key file at `path`, or
    /// [`generate`](Self::generate)s it if there is none; the flag is true if
    /// it was created.
    ///
    /// A server must not call this blindly: after creating a key file it
    /// stores the [`Keyring::check_value`], and when its database already
    /// holds one it must [verify](Keyring::verify_check_value) it, so a lost
    /// key file is noticed instead of silently replaced.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load) and [`generate`](Self::generate).
    pub fn load_or_generate(path: &Path) -> Result<(Keyring, bool), KeyFileError> {
        match Self::load(path) {
            Ok(ring) => Ok((ring, false)),
            Err(KeyFileError::NotFound { .. }) => match Self::generate(path) {
                Ok(ring) => Ok((ring, true)),
                // Another process created it in the meantime.
                Err(KeyFileError::AlreadyExists { .. }) => Ok((Self::load(path)?, false)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Adds a new random data key to the key file at `path` and makes it
    /// current, keeping the older keys so what they sealed still opens.
    /// Returns the new key ring.
    ///
    /// The file is replaced atomically: the new content is written to a
    /// temporary file (mode 0600) in the same directory, synced, and renamed
    /// over the old one; the directory is synced. A crash leaves either the
    /// old or the new file. Run one rotation at a time, with the server
    /// stopped or restarted afterwards so it picks up the new key.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), and [`KeyFileError::Io`] if the new file
    /// cannot be written.
    pub fn rotate(path: &Path) -> Result<Keyring, KeyFileError> {
        let mut ring = Self::load(path)?;
        ring.add_random_data_key();
        write_atomically(path, &to_json(&ring)).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        // The rewritten file is 0600, so earlier permission warnings are moot.
        ring.clear_warnings();
        Ok(ring)
    }
}

/// The file's JSON. Key hex strings are zeroized on drop.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    format: u64,
    current: String,
    data_keys: Vec<DataKeyJson>,
    index_key_hex: String,
}

impl Drop for FileJson {
    fn drop(&mut self) {
        self.index_key_hex.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataKeyJson {
    id: String,
    key_hex: String,
    created_at: DateTime<Utc>,
}

impl Drop for DataKeyJson {
    fn drop(&mut self) {
        self.key_hex.zeroize();
    }
}

fn to_json(ring: &Keyring) -> Zeroizing<Vec<u8>> {
    let json = FileJson {
        format: FORMAT,
        current: ring.current_key_id().to_owned(),
        data_keys: ring
            .data_keys()
            .iter()
            .map(|key| DataKeyJson {
                id: key.id().to_owned(),
                key_hex: hex::encode(key.key_bytes()),
                created_at: key.created_at(),
            })
            .collect(),
        index_key_hex: hex::encode(ring.index_key_bytes()),
    };
    // Reserve enough up front that the buffer holding the keys never
    // reallocates (which would leave unzeroized copies behind).
    let mut buffer = Zeroizing::new(Vec::with_capacity(1024 + 256 * json.data_keys.len()));
    serde_json::to_writer_pretty(&mut *buffer, &json).expect("a key file serializes");
    buffer.push(b'\n');
    buffer
}

fn from_json(
    path: &Path,
    json: &FileJson,
    warnings: Vec<KeyFileWarning>,
) -> Result<Keyring, KeyFileError> {
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let bad_key = |key: String, reason: String| KeyFileError::BadKey {
        path: path.to_owned(),
        key,
        reason,
    };
    if json.format != FORMAT {
        return Err(malformed(format!(
            "unsupported format {}, expected {FORMAT}",
            json.format
        )));
    }
    if json.data_keys.is_empty() {
        return Err(malformed("it has no data keys".to_owned()));
    }
    let mut seen = HashSet::new();
    let mut data_keys = Vec::with_capacity(json.data_keys.len());
    for entry in &json.data_keys {
        if !is_key_id(&entry.id) {
            return Err(malformed(format!(
                "data key id {:?} is not 8 lowercase hex characters",
                entry.id
            )));
        }
        if !seen.insert(entry.id.as_str()) {
            return Err(malformed(format!("data key id {} appears twice", entry.id)));
        }
        let name = format!("data key {}", entry.id);
        let key: Zeroizing<[u8; DATA_KEY_LEN]> =
            decode_key(&entry.key_hex).map_err(|reason| bad_key(name.clone(), reason))?;
        if key_id(&key) != entry.id {
            return Err(bad_key(
                name,
                "its id does not match its key bytes (the file is damaged or was edited)"
                    .to_owned(),
            ));
        }
        data_keys.push(DataKey::from_bytes(&key, entry.created_at));
    }
    let index_key: Zeroizing<[u8; INDEX_KEY_LEN]> = decode_key(&json.index_key_hex)
        .map_err(|reason| bad_key("index key".to_owned(), reason))?;
    let current = data_keys
        .iter()
        .position(|k| k.id() == json.current)
        .ok_or_else(|| KeyFileError::CurrentKeyMissing {
            path: path.to_owned(),
            current: json.current.clone(),
        })?;
    Ok(Keyring::from_parts(
        data_keys, current, &index_key, warnings,
    ))
}

/// Decodes an `N`-byte key from hex; the error says what is wrong without
/// quoting the hex.
fn decode_key<const N: usize>(key_hex: &str) -> Result<Zeroizing<[u8; N]>, String> {
    if key_hex.len() != 2 * N {
        return Err(format!(
            "must be {} hex characters ({} bits), found {} characters",
            2 * N,
            8 * N,
            key_hex.chars().count()
        ));
    }
    let mut key = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(key_hex, &mut *key).map_err(|_| "is not valid hex".to_owned())?;
    Ok(key)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn write_and_sync(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes `bytes` to a new 0600 file next to `path`, syncs it and renames it
/// over `path`, then syncs the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the key file path has no file name",
        )
    })?;
    let suffix: [u8; 6] = random_bytes();
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let result = open_new_private(&temp)
        .and_then(|mut file| write_and_sync(&mut file, bytes))
        .and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(dir)
}

#[cfg(unix)]
fn open_new_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Makes a rename or file creation in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps)]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// The file's permission bits if group or others have any access.
#[cfg(unix)]
fn too_open_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn too_open_mode(_path: &Path) -> Option<u32> {
    None
}
