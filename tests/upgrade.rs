//! Upgrades: pending migrations apply, data survives, a newer schema is refused.

mod common;

use std::process::{Command, Output};

use common::TestDb;

fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

async fn pool(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(db.url()).await.expect("connect")
}

#[tokio::test]
async fn a_database_from_a_newer_sscard_is_refused_and_left_untouched() {
    let db = TestDb::new().await;
    let migrate = sscard(&db, &["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let known = sscard::store::known_schema_version();

    // A migration this binary does not know, as a newer release would leave it.
    let future = known + 1;
    let pool = pool(&db).await;
    let sql = if db.is_postgres() {
        format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({future}, 'from a newer release', TRUE, '\\x00'::bytea, 0)"
        )
    } else {
        format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({future}, 'from a newer release', 1, X'00', 0)"
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    for args in [&["migrate"][..], &["calendar", "show", "2026"][..]] {
        let refused = sscard(&db, args);
        assert!(!refused.status.success(), "{args:?} must refuse");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(message.contains("migrated by a newer sscard"), "{message}");
        assert!(
            message.contains(&format!("schema version {future}")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn migrating_again_is_a_no_op_and_keeps_the_data() {
    let db = TestDb::new().await;
    let services = db.services().await;
    services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: "kept.clerk".to_owned(),
                display_name: Some("韦𠈌".to_owned()),
                roles: vec!["acceptor".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap();
    services.store().close().await;
    let before = sscard::store::known_schema_version();
    let again = sscard(&db, &["migrate"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let services = db.services().await;
    assert_eq!(
        services.store().schema_version().await.unwrap(),
        Some(before)
    );
    let accounts = services.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].display_name, "韦𠈌");
}

// ---------------------------------------------------------------------------
// The previous release

/// `tests/fixtures/release-0.1`: the schema of sscard 0.1 (migrations
/// 0001–0007, copied as they landed) and the data that release wrote.
fn release_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1")
}

/// Creates the database as release 0.1 left it: its migrations only, then
/// its data; the key file and the blob store beside it.
async fn create_release_0_1_database(db: &TestDb) {
    let fixture = release_fixture();
    sqlx::any::install_default_drivers();
    let url = if db.is_postgres() {
        db.url().to_owned()
    } else {
        format!("{}?mode=rwc", db.url())
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let release = sqlx::migrate::Migrator::new(fixture.join("migrations"))
        .await
        .expect("the release's migrations");
    assert_eq!(
        release.iter().map(|m| m.version).collect::<Vec<_>>(),
        [1, 2, 3, 6, 7]
    );
    release.run(&pool).await.expect("the release's schema");
    let data = std::fs::read_to_string(fixture.join("data.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(data))
        .execute(&pool)
        .await
        .expect("the release's data");
    pool.close().await;

    std::fs::copy(fixture.join("keys.json"), db.key_file()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(db.key_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let database_url = sscard::store::DatabaseUrl::parse(db.url()).unwrap();
    let blobs = sscard::server::default_blob_dir(&database_url, &db.key_file());
    copy_dir(&fixture.join("blobs"), &blobs);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_database_of_release_0_1_upgrades_with_its_data_intact() {
    use common::TestApp;
    use common::cases::{PNG_SCAN, window_form};
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    let db = TestDb::new().await;
    create_release_0_1_database(&db).await;
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(release_fixture().join("expected.json")).unwrap(),
    )
    .unwrap();

    // The upgrade: every migration after 0007, then nothing more to do.
    let migrate = sscard(&db, &["migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let again = sscard(&db, &["migrate"]);
    assert!(again.status.success(), "{}", text(&again));
    let verify = sscard(&db, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("审计日志完整"), "{}", text(&verify));
    let users = sscard(&db, &["user", "list"]);
    assert!(users.status.success(), "{}", text(&users));
    for username in expected["accounts"].as_array().unwrap() {
        assert!(
            text(&users).contains(username.as_str().unwrap()),
            "{username} in {}",
            text(&users)
        );
    }

    // The upgraded database served: the old accounts sign in, the old cases
    // read as they were left, with their timelines, sealed data and scans.
    let app = TestApp::spawn_on(db).await;
    assert_eq!(
        app.db()
            .services()
            .await
            .store()
            .schema_version()
            .await
            .unwrap(),
        Some(sscard::store::known_schema_version())
    );
    let password = expected["password"].as_str().unwrap();
    let clerk = app
        .sign_in("window1", password, None)
        .await
        .expect("a release-0.1 account signs in after the upgrade");
    for case in expected["cases"].as_array().unwrap() {
        let no = case["application_no"].as_str().unwrap();
        let seen = app.case_as(&clerk, no).await;
        assert_eq!(seen["status"], case["status"], "{no}: {seen}");
        if let Some(outcome) = case.get("outcome") {
            assert_eq!(&seen["outcome"], outcome, "{no}");
        }
        let actions: Vec<&Value> = seen["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| &step["action"])
            .collect();
        let before: Vec<&Value> = case["actions"].as_array().unwrap().iter().collect();
        assert_eq!(actions, before, "{no}: the timeline is kept");
        assert_eq!(seen["applicant_name"], case["name"], "{no}");
        assert!(
            !seen
                .to_string()
                .contains(case["id_number"].as_str().unwrap())
        );
        // The public progress query finds it by the blind index of the ID
        // number: the release's key file still opens the data.
        let (status, progress) = app
            .post_json(
                "/api/v1/progress",
                &json!({
                    "application_no": no,
                    "id_number": case["id_number"],
                    "name": case["name"],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{no}: {progress}");
        assert_eq!(progress["status"], case["status"], "{no}");
        let (status, card) = app
            .get_as(
                &clerk,
                &format!("/api/v1/cards/{}", case["card_number"].as_str().unwrap()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{card}");
        assert_eq!(
            card["social_state"]["code"], case["card_social_state"],
            "{card}"
        );
    }
    // A person looked up by the full ID number (sealed, blind-indexed).
    let first = &expected["cases"][0];
    let (status, person) = app
        .post_as(
            &clerk,
            "/api/v1/persons/lookup",
            &json!({ "id_number": first["id_number"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{person}");
    assert_eq!(person["name"], first["name"]);
    // The scan uploaded under release 0.1 opens.
    let scan = app
        .client
        .get(app.url(&format!(
            "/api/v1/uploads/{}",
            first["upload_id"].as_str().unwrap()
        )))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(scan.status(), StatusCode::OK);
    assert_eq!(scan.bytes().await.unwrap().as_ref(), PNG_SCAN);

    // A client retrying across the upgrade gets its first answer.
    let replayed = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case.get("idempotency_key").is_some())
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&clerk)
        .header(
            "Idempotency-Key",
            replayed["idempotency_key"].as_str().unwrap(),
        )
        .json(&window_form(
            replayed["id_number"].as_str().unwrap(),
            replayed["name"].as_str().unwrap(),
            replayed["card_number"].as_str().unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["application_no"], replayed["application_no"]);

    // Work goes on: a case the release left waiting is completed now.
    let waiting = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["status"] == "submitted")
        .unwrap();
    let no = waiting["application_no"].as_str().unwrap();
    for action in ["accept", "approve"] {
        app.act(&clerk, no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    let done = app
        .act(
            &clerk,
            no,
            "deliver",
            &json!({ "delivery": { "collected_by": "holder" } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let db = app.stop().await;
    let verify = sscard(&db, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}
