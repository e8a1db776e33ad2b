//! `sscard backup` / `sscard restore`: an online backup of the embedded
//! database under write load, restored and checked; damaged backups refused.
//! On PostgreSQL both verbs refuse and point to docs/operations.md.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{TestApp, TestDb};
use reqwest::StatusCode;
use sscard::store::DatabaseUrl;

fn sscard(database_url: &str, key_file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", database_url)
        .env("SSCARD_KEY_FILE", key_file)
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_postgres_refused(output: &Output) {
    assert!(!output.status.success(), "{}", text(output));
    let message = text(output);
    assert!(message.contains("docs/operations.md"), "{message}");
    assert!(message.contains("pg_dump"), "{message}");
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/sscard.db", dir.display())
}

#[tokio::test]
async fn an_online_backup_under_write_load_restores_every_answered_write() {
    let app = TestApp::spawn().await;
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("nightly");
    let backup_arg = backup.to_str().unwrap().to_owned();
    if app.db().is_postgres() {
        let output = sscard(
            app.db().url(),
            &app.db().key_file(),
            &["backup", &backup_arg],
        );
        assert_postgres_refused(&output);
        assert!(!backup.exists(), "nothing written for PostgreSQL");
        return;
    }
    let admin = app.staff("admin.backup", &["admin"]).await;
    let id_number = common::valid_id_number("45022119800101123");
    app.register_person(&id_number, "韦备份", Some("13877212345"))
        .await;
    // A blob store next to the database is part of the backup.
    let db_dir = DatabaseUrl::parse(app.db().url())
        .unwrap()
        .sqlite_file()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::create_dir_all(db_dir.join("blobs/ab")).unwrap();
    std::fs::write(db_dir.join("blobs/ab/cdef"), b"material scan").unwrap();

    // Two writers through the running server, recording every answered write.
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..2 {
        let client = app.client.clone();
        let url = app.url("/api/v1/accounts");
        let token = admin.token.clone();
        let answered = answered.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let username = format!("load.{writer}.{i}");
                i += 1;
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "username": username, "roles": ["acceptor"] }))
                    .send()
                    .await
                    .expect("POST an account");
                assert_eq!(response.status(), StatusCode::CREATED);
                answered.lock().unwrap().push((username, Instant::now()));
            }
        }));
    }
    while answered.lock().unwrap().len() < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let url = app.db().url().to_owned();
    let key_file = app.db().key_file();
    let args = ["backup".to_owned(), backup_arg.clone()];
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sscard(&url, &key_file, &args)
    })
    .await
    .unwrap();
    let finished = Instant::now();
    assert!(output.status.success(), "{}", text(&output));
    let message = text(&output);
    assert!(message.contains("已备份"), "{message}");
    assert!(message.contains("back it up separately"), "{message}");

    // The server kept serving: writes are answered after the backup too.
    let after = answered.lock().unwrap().len();
    while answered.lock().unwrap().len() < after + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let before: Vec<&String> = answered
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(name, _)| name)
        .collect();
    assert!(before.len() >= 10);
    // Online: the server answered writes while the backup ran.
    assert!(
        answered
            .iter()
            .any(|(_, at)| *at >= started && *at <= finished),
        "no write was answered during the backup"
    );
    assert!(answered.iter().any(|(_, at)| *at > finished));

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(backup.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["format"], 1);
    assert_eq!(
        manifest["schema_version"],
        sscard::store::known_schema_version()
    );
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["blobs/ab/cdef", "sscard.db"]);
    assert!(
        !backup.join("keys.json").exists(),
        "no key file in a backup"
    );

    // Restore into a fresh directory and open it with the same key file.
    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("data");
    let restored_url = sqlite_url(&target);
    let output = sscard(
        &restored_url,
        &app.db().key_file(),
        &["restore", &backup_arg],
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("已从"), "{}", text(&output));
    assert_eq!(
        std::fs::read(target.join("blobs/ab/cdef")).unwrap(),
        b"material scan"
    );

    let verify = sscard(&restored_url, &app.db().key_file(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("审计日志完整"), "{}", text(&verify));

    let services = sscard::server::prepare(
        &DatabaseUrl::parse(&restored_url).unwrap(),
        &app.db().key_file(),
    )
    .await
    .expect("the restored database opens with its key file");
    let restored: Vec<String> = services
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.username)
        .collect();
    for username in before {
        assert!(
            restored.contains(username),
            "{username} was answered before the backup started but is not restored"
        );
    }
    assert!(restored.contains(&"admin.backup".to_owned()));
    // Sealed personal data reads back with the same key file.
    let index = services
        .keyring()
        .blind_index(sscard::service::registry::ID_NUMBER_INDEX, &id_number);
    let mut conn = services.store().pool().acquire().await.unwrap();
    let person = sscard::store::registry::person_by_index(&mut conn, &index)
        .await
        .unwrap()
        .expect("the registered person is restored");
    drop(conn);
    assert!(!person.id.is_empty());
    services.store().close().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_damaged_or_mismatching_backup_is_refused() {
    let db = TestDb::new().await;
    let services = db.services().await;
    services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: "clerk.backup".to_owned(),
                display_name: None,
                roles: vec!["acceptor".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap();
    services.store().close().await;
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good");
    let good_arg = good.to_str().unwrap().to_owned();
    if db.is_postgres() {
        assert_postgres_refused(&sscard(db.url(), &db.key_file(), &["backup", &good_arg]));
        assert!(!good.exists());
        assert_postgres_refused(&sscard(
            db.url(),
            &db.key_file(),
            &["restore", &good_arg, "--force"],
        ));
        return;
    }
    let output = sscard(db.url(), &db.key_file(), &["backup", &good_arg]);
    assert!(output.status.success(), "{}", text(&output));
    // A second backup into the same directory is refused.
    let again = sscard(db.url(), &db.key_file(), &["backup", &good_arg]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));

    // A flipped byte in the snapshot.
    let flipped = work.path().join("flipped");
    copy_dir(&good, &flipped);
    let mut bytes = std::fs::read(flipped.join("sscard.db")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(flipped.join("sscard.db"), bytes).unwrap();
    let target = work.path().join("t1");
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", flipped.to_str().unwrap()],
    );
    assert!(!output.status.success());
    let message = text(&output);
    assert!(
        message.contains("checksum mismatch: sscard.db"),
        "{message}"
    );
    assert!(message.contains("SM3"), "{message}");
    assert!(!target.join("sscard.db").exists(), "nothing restored");

    // No manifest.
    let bare = work.path().join("bare");
    copy_dir(&good, &bare);
    std::fs::remove_file(bare.join("manifest.json")).unwrap();
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", bare.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(text(&output).contains("manifest.json"), "{}", text(&output));
    assert!(!target.join("sscard.db").exists());

    // A file the manifest does not list.
    let extra = work.path().join("extra");
    copy_dir(&good, &extra);
    std::fs::create_dir_all(extra.join("blobs")).unwrap();
    std::fs::write(extra.join("blobs/intruder"), b"x").unwrap();
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", extra.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("file not in the manifest: blobs/intruder"),
        "{}",
        text(&output)
    );

    // A backup of a newer schema than this binary knows.
    let newer = work.path().join("newer");
    copy_dir(&good, &newer);
    let manifest = std::fs::read_to_string(newer.join("manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    manifest["schema_version"] = (sscard::store::known_schema_version() + 1).into();
    std::fs::write(newer.join("manifest.json"), manifest.to_string()).unwrap();
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", newer.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("newer than this sscard"),
        "{}",
        text(&output)
    );

    // An existing target needs --force and is left alone without it.
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", &good_arg],
    );
    assert!(output.status.success(), "{}", text(&output));
    std::fs::write(target.join("sscard.db"), b"someone else's database").unwrap();
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", &good_arg],
    );
    assert!(!output.status.success());
    assert!(text(&output).contains("--force"), "{}", text(&output));
    assert_eq!(
        std::fs::read(target.join("sscard.db")).unwrap(),
        b"someone else's database"
    );
    let output = sscard(
        &sqlite_url(&target),
        &db.key_file(),
        &["restore", &good_arg, "--force"],
    );
    assert!(output.status.success(), "{}", text(&output));
    let verify = sscard(&sqlite_url(&target), &db.key_file(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let restored = sscard(&sqlite_url(&target), &db.key_file(), &["user", "list"]);
    assert!(
        text(&restored).contains("clerk.backup"),
        "{}",
        text(&restored)
    );
}
