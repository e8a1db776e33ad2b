//! The key file on disk: generate, load, rotate, and the errors.

use std::fs;
use std::path::{Path, PathBuf};

use sscard_crypto::{CryptoError, KeyFile, KeyFileError, KeyFileWarning, Keyring};

const AAD: &[u8] = b"person.id_number:1";

fn key_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("keys.json")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn write_json(path: &Path, json: &serde_json::Value) {
    fs::write(path, serde_json::to_string_pretty(json).unwrap()).unwrap();
}

#[test]
fn generate_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let generated = KeyFile::generate(&path).unwrap();
    let loaded = KeyFile::load(&path).unwrap();

    assert_eq!(loaded.current_key_id(), generated.current_key_id());
    assert_eq!(loaded.data_keys().len(), 1);
    assert_eq!(
        loaded.data_keys()[0].created_at(),
        generated.data_keys()[0].created_at()
    );
    assert_eq!(loaded.check_value(), generated.check_value());
    assert_eq!(
        loaded.blind_index("person.id_number", "45022119900101123X"),
        generated.blind_index("person.id_number", "45022119900101123X")
    );
    let sealed = generated.encrypt_str("secret", AAD);
    assert_eq!(loaded.decrypt_str(&sealed, AAD).unwrap(), "secret");
    assert!(loaded.warnings().is_empty());
}

#[test]
fn file_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let ring = KeyFile::generate(&path).unwrap();
    let json = read_json(&path);
    assert_eq!(json["format"], 1);
    assert_eq!(json["current"], ring.current_key_id());
    let keys = json["data_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], ring.current_key_id());
    assert_eq!(keys[0]["key_hex"].as_str().unwrap().len(), 32);
    assert!(keys[0]["created_at"].is_string());
    assert_eq!(json["index_key_hex"].as_str().unwrap().len(), 64);
}

#[cfg(unix)]
#[test]
fn generated_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn generate_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc").join("sscard").join("keys.json");
    KeyFile::generate(&path).unwrap();
    assert!(KeyFile::load(&path).is_ok());
}

#[test]
fn generate_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let first = KeyFile::generate(&path).unwrap();
    let before = fs::read(&path).unwrap();
    assert!(matches!(
        KeyFile::generate(&path),
        Err(KeyFileError::AlreadyExists { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(
        KeyFile::load(&path).unwrap().check_value(),
        first.check_value()
    );

    let other = dir.path().join("not-a-key-file");
    fs::write(&other, "hello").unwrap();
    assert!(matches!(
        KeyFile::generate(&other),
        Err(KeyFileError::AlreadyExists { .. })
    ));
    assert_eq!(fs::read_to_string(&other).unwrap(), "hello");
}

#[test]
fn load_or_generate_creates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let (first, created) = KeyFile::load_or_generate(&path).unwrap();
    assert!(created);
    let (second, created) = KeyFile::load_or_generate(&path).unwrap();
    assert!(!created);
    assert_eq!(first.check_value(), second.check_value());
}

#[test]
fn load_or_generate_does_not_replace_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    fs::write(&path, "{").unwrap();
    assert!(matches!(
        KeyFile::load_or_generate(&path),
        Err(KeyFileError::Malformed { .. })
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), "{");
}

#[test]
fn rotate_keeps_old_keys_and_makes_a_new_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let original = KeyFile::generate(&path).unwrap();
    let old_sealed = original.encrypt(b"old", AAD);
    let index = original.blind_index("person.id_number", "x");

    let rotated = KeyFile::rotate(&path).unwrap();
    assert_ne!(rotated.current_key_id(), original.current_key_id());
    assert_eq!(rotated.data_keys().len(), 2);
    assert_eq!(rotated.data_keys()[0].id(), original.current_key_id());

    // What rotate returned is what is on disk.
    let loaded = KeyFile::load(&path).unwrap();
    assert_eq!(loaded.current_key_id(), rotated.current_key_id());
    assert_eq!(loaded.data_keys().len(), 2);

    assert_eq!(loaded.decrypt(&old_sealed, AAD).unwrap(), b"old");
    assert!(loaded.needs_reencryption(&old_sealed));
    let new_sealed = loaded.encrypt(b"new", AAD);
    assert!(new_sealed.starts_with(&format!("sm4gcm:v1:{}:", rotated.current_key_id())));
    assert!(!loaded.needs_reencryption(&new_sealed));

    // The index key never rotates.
    assert_eq!(loaded.blind_index("person.id_number", "x"), index);
    assert_eq!(loaded.verify_check_value(&original.check_value()), Ok(()));

    let third = KeyFile::rotate(&path).unwrap();
    assert_eq!(third.data_keys().len(), 3);
    assert_eq!(third.decrypt(&old_sealed, AAD).unwrap(), b"old");
    assert_eq!(third.decrypt(&new_sealed, AAD).unwrap(), b"new");
    assert!(third.needs_reencryption(&new_sealed));

    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["keys.json"]);
}

#[cfg(unix)]
#[test]
fn rotate_writes_a_private_file_and_clears_the_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let rotated = KeyFile::rotate(&path).unwrap();
    assert!(rotated.warnings().is_empty());
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn rotate_of_a_missing_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        KeyFile::rotate(&key_path(&dir)),
        Err(KeyFileError::NotFound { .. })
    ));
}

#[cfg(unix)]
#[test]
fn wide_permissions_are_a_warning_not_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let ring = KeyFile::load(&path).unwrap();
    assert_eq!(
        ring.warnings(),
        [KeyFileWarning::PermissionsTooOpen {
            path: path.clone(),
            mode: 0o644
        }]
    );
    let message = ring.warnings()[0].to_string();
    assert!(
        message.contains("0644") && message.contains("0600"),
        "{message}"
    );
}

#[test]
fn missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = KeyFile::load(&key_path(&dir)).unwrap_err();
    assert!(matches!(err, KeyFileError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("keys.json"));
}

#[test]
fn unreadable_path_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be read as a file.
    let err = KeyFile::load(dir.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Io { .. }), "{err:?}");
}

#[test]
fn malformed_json_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    for bad in ["", "not json", "{}", "[1, 2]", r#"{"format": 1}"#] {
        fs::write(&path, bad).unwrap();
        let err = KeyFile::load(&path).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Malformed { .. }),
            "{bad}: {err:?}"
        );
    }
}

/// Generates a key file, lets `edit` change its JSON, and loads it.
fn load_edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Keyring, KeyFileError> {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    let mut json = read_json(&path);
    edit(&mut json);
    write_json(&path, &json);
    KeyFile::load(&path)
}

#[test]
fn unsupported_format_is_malformed() {
    let err = load_edited(|json| json["format"] = 2.into()).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::Malformed { reason, .. } if reason.contains("format 2")),
        "{err:?}"
    );
}

#[test]
fn unknown_fields_are_malformed() {
    let err = load_edited(|json| json["index_key"] = "x".into()).unwrap_err();
    assert!(matches!(err, KeyFileError::Malformed { .. }), "{err:?}");
}

#[test]
fn no_data_keys_is_malformed() {
    let err = load_edited(|json| json["data_keys"] = serde_json::json!([])).unwrap_err();
    assert!(matches!(err, KeyFileError::Malformed { .. }), "{err:?}");
}

#[test]
fn short_data_key_is_a_bad_key() {
    let err = load_edited(|json| {
        let key = json["data_keys"][0]["key_hex"].as_str().unwrap().to_owned();
        json["data_keys"][0]["key_hex"] = key[..30].into();
    })
    .unwrap_err();
    assert!(
        matches!(&err, KeyFileError::BadKey { key, reason, .. }
            if key.starts_with("data key ") && reason.contains("32 hex characters")),
        "{err:?}"
    );
}

#[test]
fn non_hex_data_key_is_a_bad_key() {
    let err = load_edited(|json| {
        json["data_keys"][0]["key_hex"] = "zz".repeat(16).into();
    })
    .unwrap_err();
    assert!(
        matches!(&err, KeyFileError::BadKey { reason, .. } if reason.contains("hex")),
        "{err:?}"
    );
}

#[test]
fn short_index_key_is_a_bad_key() {
    let err = load_edited(|json| json["index_key_hex"] = "00".repeat(16).into()).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::BadKey { key, .. } if key == "index key"),
        "{err:?}"
    );
}

#[test]
fn edited_key_bytes_no_longer_match_their_id() {
    let err = load_edited(|json| {
        json["data_keys"][0]["key_hex"] = "00".repeat(16).into();
    })
    .unwrap_err();
    assert!(
        matches!(&err, KeyFileError::BadKey { reason, .. } if reason.contains("does not match")),
        "{err:?}"
    );
}

#[test]
fn current_id_not_in_list_is_reported() {
    let err = load_edited(|json| json["current"] = "deadbeef".into()).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::CurrentKeyMissing { current, .. } if current == "deadbeef"),
        "{err:?}"
    );
}

#[test]
fn duplicate_data_key_is_malformed() {
    let err = load_edited(|json| {
        let key = json["data_keys"][0].clone();
        json["data_keys"].as_array_mut().unwrap().push(key);
    })
    .unwrap_err();
    assert!(
        matches!(&err, KeyFileError::Malformed { reason, .. } if reason.contains("twice")),
        "{err:?}"
    );
}

#[test]
fn errors_never_quote_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    let json = read_json(&path);
    let index_hex = json["index_key_hex"].as_str().unwrap().to_owned();
    let data_hex = json["data_keys"][0]["key_hex"].as_str().unwrap().to_owned();

    let mut broken = json.clone();
    broken["index_key_hex"] = format!("{index_hex}00").into();
    broken["data_keys"][0]["key_hex"] = format!("{}zz", &data_hex[..30]).into();
    write_json(&path, &broken);
    let err = KeyFile::load(&path).unwrap_err();
    let message = format!("{err:?} {err}");
    assert!(!message.contains(&index_hex) && !message.contains(&data_hex[..30]));
}

#[test]
fn check_value_detects_the_wrong_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let right = KeyFile::generate(&dir.path().join("right.json")).unwrap();
    let wrong = KeyFile::generate(&dir.path().join("wrong.json")).unwrap();
    let stored = right.check_value();

    let reloaded = KeyFile::load(&dir.path().join("right.json")).unwrap();
    assert_eq!(reloaded.verify_check_value(&stored), Ok(()));
    assert_eq!(
        wrong.verify_check_value(&stored),
        Err(CryptoError::CheckValueMismatch)
    );

    // Still valid after rotation.
    let rotated = KeyFile::rotate(&dir.path().join("right.json")).unwrap();
    assert_eq!(rotated.verify_check_value(&stored), Ok(()));

    // And values sealed under the right file are unknown to the wrong one.
    let sealed = right.encrypt(b"x", AAD);
    assert!(matches!(
        wrong.decrypt(&sealed, AAD),
        Err(CryptoError::UnknownKey { .. })
    ));
}

#[test]
fn debug_of_a_loaded_keyring_shows_no_key_hex() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    KeyFile::generate(&path).unwrap();
    KeyFile::rotate(&path).unwrap();
    let ring = KeyFile::load(&path).unwrap();
    let json = read_json(&path);
    let debug = format!("{ring:?} {:?}", ring.data_keys());
    assert!(!debug.contains(json["index_key_hex"].as_str().unwrap()));
    for key in json["data_keys"].as_array().unwrap() {
        assert!(!debug.contains(key["key_hex"].as_str().unwrap()));
        assert!(debug.contains(key["id"].as_str().unwrap()));
    }
}
