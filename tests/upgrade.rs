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
