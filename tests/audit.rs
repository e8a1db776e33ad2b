//! The tamper-evident audit trail: `sscard audit verify` on an untouched
//! database, and after an entry is altered, deleted, inserted or reordered
//! by hand through a second connection.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::TestDb;
use sqlx::{AnyPool, Row};
use sscard::service::Actor;
use sscard::store::audit::{AuditProblem, AuditRecord, AuditReport, ProblemKind, SHARDS};
use sscard::store::{DatabaseUrl, Store};

/// Years imported by [`populated`], each three times (import, then two corrections).
const YEARS: std::ops::RangeInclusive<i32> = 2027..=2038;
const IMPORTS_PER_YEAR: usize = 3;
/// The shipped guide and the shipped 2026 calendar, seeded at start-up.
const SEEDED: usize = 2;

fn calendar_file(year: i32, revision: usize) -> String {
    format!(
        r#"year = {year}
source = "test calendar {year}, revision {revision}"

[[holidays]]
name = "元旦"
first_day = {year}-01-01
last_day = {year}-01-01
adjusted_working_days = []
"#
    )
}

fn sscard(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard")
}

/// Runs `sscard audit verify`: whether it succeeded, and stdout + stderr.
fn verify_cli(db: &TestDb) -> (bool, String) {
    let output = sscard(db, &["audit", "verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The report itself, for exact assertions.
async fn verify_report(db: &TestDb) -> AuditReport {
    let store = Store::connect(&DatabaseUrl::parse(db.url()).unwrap())
        .await
        .unwrap();
    let report = sscard::store::audit::verify(&store).await.unwrap();
    store.close().await;
    report
}

/// A second, independent connection, as someone editing the database by hand.
async fn tamper_pool(db: &TestDb) -> AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await
        .expect("a second connection to the test database")
}

/// A database whose audit trail has a few dozen entries made by real use
/// cases, several shards holding chains of three or more.
async fn populated() -> TestDb {
    let db = TestDb::new().await;
    let services = db.services().await;
    let operator = Actor::operator("auditor-test");
    for revision in 0..IMPORTS_PER_YEAR {
        for year in YEARS {
            services
                .import_calendar(&calendar_file(year, revision), &operator)
                .await
                .expect("import a calendar year");
        }
    }
    services.store().close().await;
    db
}

fn expected_entries() -> u64 {
    u64::try_from(SEEDED + YEARS.count() * IMPORTS_PER_YEAR).unwrap()
}

async fn all_records(pool: &AnyPool) -> Vec<AuditRecord> {
    sqlx::query(
        "SELECT shard, seq, id, occurred_at, actor, actor_role, client_address, action, \
         object, outcome, detail_json, prev_hash, hash FROM audit_log ORDER BY shard, seq",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| AuditRecord {
        shard: row.get("shard"),
        seq: row.get("seq"),
        id: row.get("id"),
        occurred_at: row.get("occurred_at"),
        actor: row.get("actor"),
        actor_role: row.get("actor_role"),
        client_address: row.get("client_address"),
        action: row.get("action"),
        object: row.get("object"),
        outcome: row.get("outcome"),
        detail_json: row.get("detail_json"),
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    })
    .collect()
}

/// The longest chain (at least three entries), in seq order.
async fn longest_chain(pool: &AnyPool) -> Vec<AuditRecord> {
    let mut shards: BTreeMap<i64, Vec<AuditRecord>> = BTreeMap::new();
    for record in all_records(pool).await {
        shards.entry(record.shard).or_default().push(record);
    }
    let chain = shards
        .into_values()
        .max_by_key(Vec::len)
        .expect("some entries");
    assert!(chain.len() >= 3, "a chain of three or more: {chain:?}");
    chain
}

fn lines(output: &str) -> Vec<&str> {
    output.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[tokio::test]
async fn an_untouched_trail_is_intact() {
    let db = populated().await;
    let (ok, output) = verify_cli(&db);
    assert!(ok, "{output}");
    assert_eq!(
        output.trim(),
        format!(
            "审计日志完整：共 {} 条记录，16 条链均未被改动。",
            expected_entries()
        )
    );

    let pool = tamper_pool(&db).await;
    let records = all_records(&pool).await;
    let shards: std::collections::BTreeSet<i64> = records.iter().map(|r| r.shard).collect();
    assert!(shards.len() >= 5, "entries spread over shards: {shards:?}");
    // Who, when, from where, what, on which object, how it ended.
    let import = records
        .iter()
        .find(|r| r.object == "calendar:2027" && r.seq > 0)
        .unwrap();
    assert_eq!(import.actor, "cli:auditor-test");
    assert_eq!(import.actor_role, "operator");
    assert_eq!(import.client_address, "-");
    assert!(import.action.starts_with("calendar."));
    assert_eq!(import.outcome, "succeeded");
    assert!(import.occurred_at.ends_with('Z'));
    let seeded = records.iter().find(|r| r.object == "guide:44").unwrap();
    assert_eq!(
        (seeded.actor.as_str(), seeded.actor_role.as_str()),
        ("system", "system")
    );
    // One object's history is one ordered chain.
    let history: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.object == "calendar:2030")
        .collect();
    assert_eq!(history.len(), IMPORTS_PER_YEAR);
    assert!(history.windows(2).all(|w| w[0].shard == w[1].shard));
    assert_eq!(history[0].action, "calendar.import");
    assert_eq!(history[1].action, "calendar.replace");
    pool.close().await;
}

#[tokio::test]
async fn an_edited_entry_is_named() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let victim = &chain[1];
    sqlx::query("UPDATE audit_log SET detail_json = $1 WHERE id = $2")
        .bind(r#"{"year":1999,"holidays":0}"#)
        .bind(victim.id.clone())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "tampering must fail the check: {output}");
    assert!(output.contains(&victim.id), "names the entry: {output}");
    assert!(output.contains("被改动"), "{output}");
    let report = verify_report(&db).await;
    assert_eq!(
        report.problems,
        vec![AuditProblem {
            shard: victim.shard,
            seq: victim.seq,
            entry_id: Some(victim.id.clone()),
            kind: ProblemKind::Altered,
        }],
        "exactly the edited entry, nothing else"
    );
    let problem_lines: Vec<&str> = lines(&output)
        .into_iter()
        .filter(|l| l.contains(&victim.id))
        .collect();
    assert_eq!(problem_lines.len(), 1, "{output}");
    assert!(
        problem_lines[0].contains(&format!("第 {} 条链第 {} 号", victim.shard, victim.seq)),
        "names shard and seq: {output}"
    );
}

#[tokio::test]
async fn a_deleted_entry_is_found() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let (deleted, next) = (&chain[1], &chain[2]);
    sqlx::query("DELETE FROM audit_log WHERE id = $1")
        .bind(deleted.id.clone())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(output.contains("删除"), "{output}");
    assert!(
        output.contains(&next.id),
        "names the entry after the gap: {output}"
    );
    let report = verify_report(&db).await;
    assert_eq!(
        report.problems,
        vec![AuditProblem {
            shard: next.shard,
            seq: next.seq,
            entry_id: Some(next.id.clone()),
            kind: ProblemKind::Missing {
                first: deleted.seq,
                last: deleted.seq,
            },
        }]
    );
    assert_eq!(report.entries, expected_entries() - 1);
}

#[tokio::test]
async fn a_forged_entry_at_the_end_is_found_even_with_a_valid_hash() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let last = chain.last().unwrap();
    // A copy of the last entry with a new id, the next seq, a correct link
    // and a correctly recomputed hash: only the head can tell.
    let mut forged = last.clone();
    forged.id = uuid::Uuid::new_v4().to_string();
    forged.seq = last.seq + 1;
    forged.detail_json = r#"{"forged":true}"#.to_owned();
    forged.prev_hash.clone_from(&last.hash);
    forged.hash = forged.compute_hash().unwrap();
    insert(&pool, &forged).await;
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&forged.id),
        "names the forged entry: {output}"
    );
    assert!(output.contains("插入"), "{output}");
    let report = verify_report(&db).await;
    assert_eq!(
        report.problems,
        vec![AuditProblem {
            shard: forged.shard,
            seq: forged.seq,
            entry_id: Some(forged.id.clone()),
            kind: ProblemKind::BeyondHead {
                head_seq: last.seq,
                last_seq: forged.seq,
            },
        }]
    );
}

#[tokio::test]
async fn a_forged_entry_in_the_middle_is_found() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let (before, displaced) = (&chain[0], &chain[1]);
    // Make room after `before` by renumbering the rest of the chain, then
    // slip in a well-formed entry that links to `before`.
    sqlx::query("UPDATE audit_log SET seq = -seq WHERE shard = $1 AND seq > $2")
        .bind(before.shard)
        .bind(before.seq)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET seq = 1 - seq WHERE shard = $1 AND seq < 0")
        .bind(before.shard)
        .execute(&pool)
        .await
        .unwrap();
    let mut forged = displaced.clone();
    forged.id = uuid::Uuid::new_v4().to_string();
    forged.detail_json = r#"{"forged":true}"#.to_owned();
    forged.prev_hash.clone_from(&before.hash);
    forged.hash = forged.compute_hash().unwrap();
    insert(&pool, &forged).await;
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&displaced.id),
        "names the entry pushed out of place: {output}"
    );
    let report = verify_report(&db).await;
    let about_displaced: Vec<&ProblemKind> = report
        .problems
        .iter()
        .filter(|p| p.entry_id.as_deref() == Some(displaced.id.as_str()))
        .map(|p| &p.kind)
        .collect();
    assert!(
        about_displaced.contains(&&ProblemKind::BrokenLink),
        "{report:?}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::BeyondHead { .. })),
        "one entry more than the head issued: {report:?}"
    );
}

#[tokio::test]
async fn swapped_entries_are_found() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let (a, b) = (&chain[0], &chain[1]);
    for (id, seq) in [(&a.id, -1), (&b.id, a.seq), (&a.id, b.seq)] {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(id.clone())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(output.contains(&a.id), "{output}");
    assert!(output.contains(&b.id), "{output}");
    let report = verify_report(&db).await;
    for id in [&a.id, &b.id] {
        let kinds: Vec<&ProblemKind> = report
            .problems
            .iter()
            .filter(|p| p.entry_id.as_ref() == Some(id))
            .map(|p| &p.kind)
            .collect();
        assert!(kinds.contains(&&ProblemKind::Altered), "{id}: {report:?}");
        assert!(
            kinds.contains(&&ProblemKind::BrokenLink),
            "{id}: {report:?}"
        );
    }
}

#[tokio::test]
async fn a_deleted_newest_entry_is_found_by_the_head() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let newest = chain.last().unwrap();
    let remaining = &chain[chain.len() - 2];
    sqlx::query("DELETE FROM audit_log WHERE id = $1")
        .bind(newest.id.clone())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(output.contains("删除"), "{output}");
    assert!(
        output.contains(&format!("第 {} 条链", newest.shard)),
        "names the chain: {output}"
    );
    assert!(
        output.contains(&remaining.id),
        "names the last remaining entry: {output}"
    );
    let report = verify_report(&db).await;
    assert_eq!(
        report.problems,
        vec![AuditProblem {
            shard: newest.shard,
            seq: newest.seq,
            entry_id: Some(remaining.id.clone()),
            kind: ProblemKind::TailMissing {
                head_seq: newest.seq,
                last_seq: remaining.seq,
            },
        }]
    );
}

#[tokio::test]
async fn a_forged_head_hash_and_a_stray_shard_are_found() {
    let db = populated().await;
    let pool = tamper_pool(&db).await;
    let chain = longest_chain(&pool).await;
    let shard = chain[0].shard;
    sqlx::query("UPDATE audit_heads SET head_hash = $1 WHERE shard = $2")
        .bind(chain[0].hash.clone())
        .bind(shard)
        .execute(&pool)
        .await
        .unwrap();
    let mut stray = chain[0].clone();
    stray.id = uuid::Uuid::new_v4().to_string();
    stray.shard = SHARDS;
    insert(&pool, &stray).await;
    pool.close().await;

    let report = verify_report(&db).await;
    let kinds: Vec<&ProblemKind> = report.problems.iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        vec![&ProblemKind::HeadHashMismatch, &ProblemKind::UnknownShard],
        "{report:?}"
    );
    let (ok, output) = verify_cli(&db);
    assert!(!ok, "{output}");
    assert!(output.contains(&stray.id), "{output}");
}

/// Fifty changes committed at once across shards (and several on the same
/// shard, even the same object) leave every chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_keep_every_chain_intact() {
    const YEARS: i32 = 25;
    const PER_YEAR: usize = 2;
    let db = TestDb::new().await;
    let services = db.services().await;
    let mut tasks = tokio::task::JoinSet::new();
    for revision in 0..PER_YEAR {
        for year in 2040..2040 + YEARS {
            let services = services.clone();
            tasks.spawn(async move {
                let actor = Actor::operator(&format!("clerk-{year}-{revision}"));
                services
                    .import_calendar(&calendar_file(year, revision), &actor)
                    .await
                    .map(|_| ())
            });
        }
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("import");
        done += 1;
    }
    assert_eq!(done, 50);

    let report = services.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.entries, 52);
    services.store().close().await;

    let pool = tamper_pool(&db).await;
    let records = all_records(&pool).await;
    let shards: std::collections::BTreeSet<i64> = records.iter().map(|r| r.shard).collect();
    assert!(shards.len() >= 8, "spread over shards: {shards:?}");
    let heads: i64 = sqlx::query("SELECT CAST(SUM(seq) AS BIGINT) AS total FROM audit_heads")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("total");
    assert_eq!(heads, 52, "every issued seq has its entry");
    pool.close().await;

    let (ok, output) = verify_cli(&db);
    assert!(ok, "{output}");
    assert!(output.contains("完整"), "{output}");
}

async fn insert(pool: &AnyPool, record: &AuditRecord) {
    sqlx::query(
        "INSERT INTO audit_log (shard, seq, id, occurred_at, actor, actor_role, client_address, \
         action, object, outcome, detail_json, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(record.shard)
    .bind(record.seq)
    .bind(record.id.clone())
    .bind(record.occurred_at.clone())
    .bind(record.actor.clone())
    .bind(record.actor_role.clone())
    .bind(record.client_address.clone())
    .bind(record.action.clone())
    .bind(record.object.clone())
    .bind(record.outcome.clone())
    .bind(record.detail_json.clone())
    .bind(record.prev_hash.clone())
    .bind(record.hash.clone())
    .execute(pool)
    .await
    .unwrap();
}
