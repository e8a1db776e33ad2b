//! The `sscard` binary as an operator uses it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, TestDb};
use reqwest::StatusCode;

/// Runs `sscard ARGS` on a test database and its key file.
fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn shipped_guide() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/guide/v44.toml")).unwrap()
}

#[test]
fn an_unsupported_database_scheme_is_refused_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["--database-url", "mysql://root@127.0.0.1/sscard", "migrate"])
        .output()
        .expect("run sscard");
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("unsupported database URL scheme `mysql`"),
        "{message}"
    );
    assert!(
        message.contains("sqlite://"),
        "tells what is accepted: {message}"
    );
}

#[tokio::test]
async fn publishing_a_new_guide_version_makes_it_current_and_keeps_the_old_one() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let v45 = dir.path().join("v45.toml");
    std::fs::write(
        &v45,
        shipped_guide().replacen("version = 44", "version = 45", 1),
    )
    .unwrap();

    let output = sscard(&db, &["guide", "publish", v45.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("第 45 版"));

    // Publishing the same version again is refused: published versions never change.
    let again = sscard(&db, &["guide", "publish", v45.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("GUIDE_VERSION_NOT_NEWER"),
        "{}",
        stderr(&again)
    );

    let app = TestApp::spawn_on(db).await;
    let (_, current) = app.get_json("/api/v1/guide").await;
    assert_eq!(current["version"], 45);
    let (status, v44) = app.get_json("/api/v1/guide/versions/44").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v44["version"], 44);
    let (_, list) = app.get_json("/api/v1/guide/versions").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["current"], true);
}

#[tokio::test]
async fn a_malformed_guide_names_the_line_and_field_and_changes_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    let text = shipped_guide()
        .replacen("version = 44", "version = 46", 1)
        .replacen(
            "time_limit_working_days = 1",
            "time_limit_working_days = \"one\"",
            1,
        );
    let line = text
        .lines()
        .position(|l| l.contains("\"one\""))
        .map(|i| i + 1)
        .unwrap();
    std::fs::write(&broken, &text).unwrap();

    let check = sscard(&db, &["guide", "check", broken.to_str().unwrap()]);
    assert!(!check.status.success());
    let message = stderr(&check);
    assert!(
        message.contains(&format!("line {line}")),
        "names line {line}: {message}"
    );
    assert!(
        message.contains("time_limit_working_days"),
        "names the field: {message}"
    );

    let publish = sscard(&db, &["guide", "publish", broken.to_str().unwrap()]);
    assert!(!publish.status.success());
    let app = TestApp::spawn_on(db).await;
    let (_, current) = app.get_json("/api/v1/guide").await;
    assert_eq!(current["version"], 44, "nothing was published");
}

#[tokio::test]
async fn importing_a_later_year_makes_its_deadlines_certain() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2027.toml");
    // An illustrative 2027 calendar (not the State Council's notice).
    std::fs::write(
        &file,
        r#"year = 2027
source = "test calendar"

[[holidays]]
name = "元旦"
first_day = 2027-01-01
last_day = 2027-01-03
adjusted_working_days = []
"#,
    )
    .unwrap();
    let output = sscard(&db, &["calendar", "import", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("2027"));

    let shown = sscard(&db, &["calendar", "show", "2027"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("2027-01-01"), "{}", stdout(&shown));

    let missing = sscard(&db, &["calendar", "show", "2031"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("CALENDAR_YEAR_NOT_LOADED"));

    let app = TestApp::spawn_on(db).await;
    let (_, body) = app
        .get_json("/api/v1/calendar/deadline?start=2026-12-31&working_days=1")
        .await;
    assert_eq!(body["deadline"], "2027-01-04", "New Year 2027 is skipped");
    assert_eq!(body["provisional"], false);
}

#[tokio::test]
async fn a_malformed_calendar_is_refused_with_its_line() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "year = 2027\nsource = \"x\"\n\n[[holidays]]\nname = \"元旦\"\nfirst_day = 2027-01-01\nlast_day = 2027-01-03\nadjusted_working_days = [2027-01-06]\n",
    )
    .unwrap();
    let output = sscard(&db, &["calendar", "import", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("CALENDAR_FILE_INVALID"), "{message}");
    assert!(message.contains("line 8"), "{message}");
}

/// `sscard serve` on a fresh directory creates the embedded database with its
/// migrations, serves, and stops cleanly on SIGTERM.
#[test]
fn serve_creates_the_embedded_database_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("SSCARD_DATABASE_URL")
        .env("SSCARD_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start sscard serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address");
        if let Some(rest) = line.split("open http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    };
    assert!(
        dir.path().join("data/sscard.db").exists(),
        "the default database file"
    );

    let health = blocking_get(&format!("http://{address}/readyz"));
    assert!(health.contains("ready"), "{health}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stops within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "a clean exit after SIGTERM: {exit:?}");
}

/// A GET from a plain thread (the serve test is not async).
fn blocking_get(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys() {
    let db = TestDb::new().await;
    if db.is_postgres() {
        return;
    }
    let url = sscard::store::DatabaseUrl::parse(db.url()).unwrap();
    let store = sscard::store::Store::connect(&url).await.unwrap();
    let pragma = |name: &'static str| {
        let pool = store.pool().clone();
        async move {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
                .fetch_one(&pool)
                .await
                .unwrap();
            let value: Result<String, _> = sqlx::Row::try_get(&row, 0);
            value.unwrap_or_else(|_| sqlx::Row::try_get::<i64, _>(&row, 0).unwrap().to_string())
        }
    };
    assert_eq!(pragma("journal_mode").await, "wal");
    assert_eq!(pragma("synchronous").await, "2", "FULL");
    assert_eq!(pragma("foreign_keys").await, "1");
    store.close().await;
}
