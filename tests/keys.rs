//! The data key file: required and checked, rotated without downtime.

mod common;

use std::process::{Command, Output};

use common::{TestApp, TestDb};
use sqlx::Row;

fn sscard(db: &TestDb, key_file: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", key_file)
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

async fn sealed_totp(db: &TestDb, username: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let row = sqlx::query("SELECT totp_secret_sealed FROM accounts WHERE username = $1")
        .bind(username.to_owned())
        .fetch_one(&pool)
        .await
        .unwrap();
    let sealed: String = row.try_get(0).unwrap();
    pool.close().await;
    sealed
}

fn key_id(sealed: &str) -> String {
    sealed
        .split(':')
        .nth(2)
        .expect("sm4gcm:v1:<key id>:…")
        .to_owned()
}

#[tokio::test]
async fn a_running_server_keeps_signing_in_across_a_key_rotation() {
    let app = TestApp::spawn().await;
    let admin = app.staff("admin.rotate", &["admin"]).await;
    let before = sealed_totp(app.db(), "admin.rotate").await;
    assert!(
        before.starts_with("sm4gcm:v1:"),
        "the TOTP secret is sealed: {before}"
    );

    let output = sscard(app.db(), &app.db().key_file(), &["keys", "rotate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("重新加密 1 个"));

    let after = sealed_totp(app.db(), "admin.rotate").await;
    assert_ne!(
        key_id(&before),
        key_id(&after),
        "re-encrypted under the new key"
    );

    // The server started before the rotation reads the new key on demand.
    let password = "Liujiang-318-Window-2026";
    let secret = app
        .db()
        .services()
        .await
        .open_sealed(
            &after,
            &format!(
                "accounts.totp_secret_sealed:{}",
                account_id(app.db(), "admin.rotate").await
            ),
        )
        .expect("opens under the rotated key file");
    let token = app.sign_in(&admin.username, password, Some(&secret)).await;
    assert!(token.is_ok(), "{token:?}");
}

async fn account_id(db: &TestDb, username: &str) -> String {
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let row = sqlx::query("SELECT id FROM accounts WHERE username = $1")
        .bind(username.to_owned())
        .fetch_one(&pool)
        .await
        .unwrap();
    let id: String = row.try_get(0).unwrap();
    pool.close().await;
    id
}

#[tokio::test]
async fn a_missing_or_foreign_key_file_stops_the_start() {
    let db = TestDb::new().await;
    let first = sscard(&db, &db.key_file(), &["migrate"]);
    assert!(first.status.success());
    // The first real start generates the key file and ties it to the database.
    let seed = sscard(&db, &db.key_file(), &["calendar", "show", "2026"]);
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
    assert!(db.key_file().exists());

    let elsewhere = tempfile::tempdir().unwrap();
    let missing = sscard(
        &db,
        &elsewhere.path().join("keys.json"),
        &["calendar", "show", "2026"],
    );
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(message.contains("needs its key file"), "{message}");

    let foreign = elsewhere.path().join("foreign.json");
    sscard_crypto::KeyFile::generate(&foreign).unwrap();
    let wrong = sscard(&db, &foreign, &["calendar", "show", "2026"]);
    assert!(!wrong.status.success());
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        message.contains("does not belong to this database"),
        "{message}"
    );
}
