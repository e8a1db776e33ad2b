//! `sscard backup` / `sscard restore`: an online backup of the embedded
//! database under write load, restored and checked; damaged backups refused.
//! On PostgreSQL both verbs refuse and point to docs/operations.md.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::cases::{card_number, id_number_for, register_person_with_card, window_form};
use common::node::{Node, NodeOptions};
use common::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::Services;

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

/// What a client saw answered, and when.
#[derive(Clone, Debug)]
struct Answered {
    application_no: String,
    upload_id: String,
    scan: Vec<u8>,
    /// The case's actions in order, each with the instant its answer came.
    actions: Vec<(&'static str, Instant)>,
}

/// One client working through cases until `stop`: registers a person and
/// their card (as an import would), uploads a scan, enters a walk-in with
/// it, then accepts, approves and delivers it, recording each answer.
/// `first` numbers its persons.
async fn case_worker(
    app: Arc<TestApp>,
    services: Services,
    token: String,
    first: u32,
    answered: Arc<Mutex<Vec<Answered>>>,
    stop: Arc<AtomicBool>,
) {
    // id_number_for is unique below 7000.
    for n in first..first + 3000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (id, card) = (id_number_for(n), card_number(n));
        register_person_with_card(&services, &id, "黄明", "13977212345", &card, "collected").await;
        // Each scan differs, so a blob mixed up with another one shows.
        let scan = format!("%PDF-1.4\n% scan of case {n}\n%%EOF\n").into_bytes();
        let upload_id = app
            .upload_as(&token, &format!("申请表-{n}.pdf"), &scan)
            .await;
        let mut form = window_form(&id, "黄明", &card);
        form["materials"][0]["upload_id"] = json!(upload_id);
        let case = app.submit_as(&token, &form).await;
        let application_no = case["application_no"].as_str().unwrap().to_owned();
        let index = {
            let mut answered = answered.lock().unwrap();
            answered.push(Answered {
                application_no: application_no.clone(),
                upload_id,
                scan,
                actions: vec![("submit", Instant::now())],
            });
            answered.len() - 1
        };
        for (action, body) in [
            ("accept", Value::Null),
            ("approve", Value::Null),
            (
                "deliver",
                json!({ "delivery": { "collected_by": "holder" } }),
            ),
        ] {
            app.act(&token, &application_no, action, &body, StatusCode::OK)
                .await;
            answered.lock().unwrap()[index]
                .actions
                .push((action, Instant::now()));
        }
    }
}

/// Waits (without a deadline of its own: the test runner's timeout is the
/// limit) until `answered` holds `count` cases, failing if the workers end
/// before that.
async fn wait_for_cases(
    answered: &Mutex<Vec<Answered>>,
    count: usize,
    workers: &[tokio::task::JoinHandle<()>],
) {
    while answered.lock().unwrap().len() < count {
        assert!(
            !workers.iter().all(tokio::task::JoinHandle::is_finished),
            "the workers ended before {count} cases were answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_online_backup_under_load_restores_every_answered_case_and_scan() {
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
    // Two window clerks, each doing complete cases of their own persons.
    let mut clerks = Vec::new();
    for (name, first) in [("window.a", 100), ("window.b", 3100)] {
        let clerk = app
            .staff(name, &["acceptor", "processor", "feedback"])
            .await;
        clerks.push((clerk.token, first));
    }
    let services = app.db().services().await;

    let app = Arc::new(app);
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = clerks
        .into_iter()
        .map(|(token, first)| {
            tokio::spawn(case_worker(
                app.clone(),
                services.clone(),
                token,
                first,
                answered.clone(),
                stop.clone(),
            ))
        })
        .collect();
    wait_for_cases(&answered, 6, &workers).await;

    // Every answer recorded before this instant was committed before the
    // snapshot; later ones may or may not be in the backup.
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
    assert!(output.status.success(), "{}", text(&output));
    let message = text(&output);
    assert!(message.contains("已备份"), "{message}");
    assert!(message.contains("back it up separately"), "{message}");

    // The server kept serving: cases are still answered after the backup.
    let after = answered.lock().unwrap().len();
    wait_for_cases(&answered, after + 3, &workers).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let before: Vec<&Answered> = answered
        .iter()
        .filter(|case| case.actions[0].1 < started)
        .collect();
    assert!(
        before.len() >= 6,
        "{} cases before the backup",
        before.len()
    );

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
    assert!(paths.contains(&"sscard.db"), "{paths:?}");
    for case in &before {
        let blob = format!("blobs/{}/{}", &case.upload_id[..2], case.upload_id);
        assert!(paths.contains(&blob.as_str()), "{blob} in {paths:?}");
    }
    assert!(
        !backup.join("keys.json").exists(),
        "no key file in a backup"
    );

    // A damaged scan in a copy of the backup is refused, naming it.
    let work = tempfile::tempdir().unwrap();
    let damaged = work.path().join("damaged");
    copy_dir(&backup, &damaged);
    let blob = damaged
        .join("blobs")
        .join(&before[0].upload_id[..2])
        .join(&before[0].upload_id);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let refused_target = work.path().join("refused");
    let output = sscard(
        &sqlite_url(&refused_target),
        &app.db().key_file(),
        &["restore", damaged.to_str().unwrap()],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains(&format!(
            "checksum mismatch: blobs/{}",
            &before[0].upload_id[..2]
        )),
        "{}",
        text(&output)
    );
    assert!(
        !refused_target.join("sscard.db").exists(),
        "nothing restored"
    );

    // Restore into a fresh directory and serve it with the same key file.
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
    let verify = sscard(&restored_url, &app.db().key_file(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("审计日志完整"), "{}", text(&verify));

    let key_file = app.db().key_file();
    let node = Node::start(&NodeOptions::new(&restored_url, &key_file));
    let (status, body) = node
        .post(
            None,
            "/api/v1/session",
            &json!({ "username": "window.a", "password": "Liujiang-318-Window-2026" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    for case in &before {
        let no = &case.application_no;
        let (status, restored) = node
            .get(Some(&token), &format!("/api/v1/applications/{no}"))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{no} was answered before the backup began but is not restored: {restored}"
        );
        // Every action answered before the backup began is in the timeline.
        let timeline: Vec<&str> = restored["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| step["action"].as_str().unwrap())
            .collect();
        let done_before: Vec<&str> = case
            .actions
            .iter()
            .filter(|(_, at)| *at < started)
            .map(|(action, _)| *action)
            .collect();
        assert!(
            timeline.starts_with(&done_before),
            "{no}: {done_before:?} answered before the backup, restored {timeline:?}"
        );
        let scan = node
            .client
            .get(node.url(&format!("/api/v1/uploads/{}", case.upload_id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(scan.status(), StatusCode::OK, "{no}'s scan");
        assert_eq!(scan.bytes().await.unwrap().as_ref(), case.scan.as_slice());
    }
    let (exit, _) = node.stop();
    assert!(exit.success(), "{exit}");

    // The restored database does not start with another key file.
    let other_keys = tempfile::tempdir().unwrap();
    let output = sscard(
        &restored_url,
        &other_keys.path().join("keys.json"),
        &["calendar", "show", "2026"],
    );
    assert!(!output.status.success(), "{}", text(&output));
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
