//! 单位批量启用 is durable and exactly-once: the real `sscard serve` binary
//! processes a 20,000-row batch and is killed with SIGKILL at several points
//! while it does; each restart resumes by itself. In the end every eligible
//! card is activated once (one activation event each), every row is in
//! exactly one chunk audit entry, the audit chains verify and the report is
//! complete and matches the cards — on SQLite, and on PostgreSQL with
//! `SSCARD_TEST_POSTGRES_URL`, where two servers also share one batch.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::TestDb;
use common::batches::{
    Card, Person, account, card_number, id_number, insert_registry, post_batch, report_rows, uscc,
};
use common::node::{Node, NodeOptions};
use reqwest::StatusCode;
use serde_json::Value;
use sscard::service::Services;

const ROWS: u32 = 20_000;

/// What the row of person `n` should get, by `n mod 10`.
fn expected(n: u32) -> (&'static str, &'static str) {
    match n % 10 {
        0 => ("成功", "ALREADY_ACTIVE"),
        1 => ("失败", "CARD_REPORTED_LOST"),
        7 => ("失败", "PERSON_NOT_FOUND"),
        _ => ("成功", "ACTIVATED"),
    }
}

fn eligible(n: u32) -> bool {
    expected(n).1 == "ACTIVATED"
}

/// The registry of 20,000 listed people (those with `n mod 10 == 7` are not
/// registered) and the list as CSV.
async fn prepare(services: &Services, employer: &str) -> Vec<u8> {
    let mut persons = Vec::new();
    let mut cards = Vec::new();
    let mut csv = String::from("姓名,身份证号码,社会保障卡卡号\n");
    for n in 0..ROWS {
        let name = format!("职工{n}");
        csv.push_str(&format!("{name},{},{}\n", id_number(n), card_number(n)));
        if n % 10 == 7 {
            continue;
        }
        persons.push(Person::employee(n, &name, employer));
        let state = match n % 10 {
            0 => "normal",
            1 => "temporarily_lost",
            _ => "collected",
        };
        cards.push(Card::of(n, &id_number(n), state));
    }
    insert_registry(services, &persons, &cards).await;
    csv.into_bytes()
}

/// The `first_line` of a "batch chunk taken" log line.
fn chunk_first_line(line: &str) -> i64 {
    line.split("first_line=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no first_line in {line}"))
}

async fn progress(services: &Services, batch_no: &str) -> (i64, i64, String) {
    sqlx::query_as::<_, (i64, i64, String)>(
        "SELECT rows_done, rows_total, state FROM batches WHERE batch_no = $1",
    )
    .bind(batch_no.to_owned())
    .fetch_one(services.store().pool())
    .await
    .expect("the batch")
}

fn options<'a>(
    db: &'a TestDb,
    key_file: &'a std::path::Path,
    chunk_rows: usize,
) -> NodeOptions<'a> {
    let mut options = NodeOptions::new(db.url(), key_file);
    options.log_format = "text";
    options.log_level = "info,sscard=debug,sqlx=warn";
    options
        .env
        .push(("SSCARD_BATCH_CHUNK_ROWS", chunk_rows.to_string()));
    options
}

/// Uploads the list through `node` and accepts it; the batch number.
async fn submit_and_accept(
    node: &Node,
    services: &Services,
    list: Vec<u8>,
    employer: &str,
) -> String {
    let base = node.url("");
    let employer_token = account(
        &node.client,
        &base,
        services,
        "employer.big",
        &["employer"],
        Some(employer),
    )
    .await;
    let clerk = account(
        &node.client,
        &base,
        services,
        "clerk.big",
        &["acceptor", "processor", "feedback"],
        None,
    )
    .await;
    let (status, batch) = post_batch(
        &node.client,
        &base,
        &employer_token,
        "职工名单.csv",
        list,
        Some("big-1"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["progress"]["rows_total"], ROWS);
    let no = batch["batch_no"].as_str().expect("a number").to_owned();
    let (status, accepted) = node
        .post(
            Some(&clerk),
            &format!("/api/v1/batches/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    no
}

/// Waits until the batch has left 待经办 (every row decided).
async fn wait_until_processed(services: &Services, batch_no: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (done, total, state) = progress(services, batch_no).await;
        if state != "awaiting_processing" {
            assert_eq!(state, "awaiting_feedback");
            assert_eq!(done, total);
            return;
        }
        assert!(Instant::now() < deadline, "not processed: {done}/{total}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything the batch must have left behind, exactly once.
async fn check_exactly_once(services: &Services, node: &Node, batch_no: &str) {
    let pool = services.store().pool();
    let (batch_id,): (String,) = sqlx::query_as("SELECT id FROM batches WHERE batch_no = $1")
        .bind(batch_no.to_owned())
        .fetch_one(pool)
        .await
        .unwrap();

    // Every eligible card activated, once.
    let states: BTreeMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT card_number, social_state FROM cards")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let activations: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT c.card_number, COUNT(*) FROM card_events e JOIN cards c ON c.id = e.card_id \
         WHERE e.event = 'activate' GROUP BY c.card_number",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut eligible_cards = 0;
    for n in (0..ROWS).filter(|n| n % 10 != 7) {
        let number = card_number(n);
        if eligible(n) {
            eligible_cards += 1;
            assert_eq!(states[&number], "normal", "card {n}");
            assert_eq!(
                activations.get(&number),
                Some(&1),
                "activations of card {n}"
            );
        } else {
            assert_ne!(
                activations.get(&number),
                Some(&1),
                "card {n} is not eligible"
            );
            assert!(!activations.contains_key(&number), "card {n}");
        }
    }
    assert_eq!(activations.len(), eligible_cards);

    // Every row in exactly one chunk's audit entry.
    let details: Vec<(String,)> = sqlx::query_as(
        "SELECT detail_json FROM audit_log WHERE action = 'batch.process_chunk' AND object = $1",
    )
    .bind(format!("batch:{batch_id}"))
    .fetch_all(pool)
    .await
    .unwrap();
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    for (detail,) in &details {
        let detail: Value = serde_json::from_str(detail).unwrap();
        for row in detail["rows"].as_array().unwrap() {
            let line = row[0].as_u64().unwrap();
            let code = row[1].as_str().unwrap().to_owned();
            assert!(
                seen.insert(line, code).is_none(),
                "line {line} in two chunk entries"
            );
        }
    }
    assert_eq!(seen.len(), ROWS as usize, "every row in the audit trail");
    for (line, code) in &seen {
        let n = u32::try_from(line - 2).unwrap();
        assert_eq!(code, expected(n).1, "line {line}");
    }
    let report = services.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);

    // The report: complete, each row as the cards say.
    let base = node.url("");
    let clerk = account(
        &node.client,
        &base,
        services,
        "clerk.report",
        &["feedback"],
        None,
    )
    .await;
    let response = node
        .client
        .get(node.url(&format!("/api/v1/batches/{batch_no}/report.xlsx")))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rows = report_rows(&response.bytes().await.unwrap());
    assert_eq!(rows.len(), ROWS as usize);
    let lines: BTreeSet<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(lines.len(), ROWS as usize);
    for row in &rows {
        let n = row[0].parse::<u32>().unwrap() - 2;
        let (result, code) = expected(n);
        assert_eq!(
            (row[4].as_str(), row[5].as_str()),
            (result, code),
            "{row:?}"
        );
        assert_eq!(row[1], format!("职工{n}"));
        if code == "ACTIVATED" {
            assert_eq!(states[&card_number(n)], "normal");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_mid_way_resumes_and_every_row_is_done_exactly_once() {
    let db = TestDb::new().await;
    let services = db.services().await;
    let key_file = db.key_file();
    let employer = uscc(7);
    let list = prepare(&services, &employer).await;

    let mut node = Node::start(&options(&db, &key_file, 100));
    let batch_no = submit_and_accept(&node, &services, list, &employer).await;

    // SIGKILL at several points of the processing — right after the server
    // says it took a chunk, so the kill falls inside the chunk's transaction
    // — and restart each time.
    let mut killed_at = Vec::new();
    let mut inside_a_chunk = 0;
    for percent in [10, 35, 60, 85] {
        let target = i64::from(ROWS) * percent / 100;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (done, _, _) = progress(&services, &batch_no).await;
            if done >= target {
                break;
            }
            assert!(Instant::now() < deadline, "stuck at {done} rows");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seen = node.log_lines().len();
        let first_line = loop {
            let lines = node.log_lines();
            if let Some(line) = lines[seen..]
                .iter()
                .rev()
                .find(|l| l.contains("batch chunk taken"))
            {
                break chunk_first_line(line);
            }
            assert!(
                Instant::now() < deadline,
                "no chunk taken after {target} rows"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        drop(node); // SIGKILL, then waited for.
        let (done, total, state) = progress(&services, &batch_no).await;
        assert!(
            done < total && state == "awaiting_processing",
            "killed at {done}/{total} ({state}): the kill should fall during processing"
        );
        let (status,): (String,) = sqlx::query_as(
            "SELECT r.status FROM batch_rows r JOIN batches b ON b.id = r.batch_id \
             WHERE b.batch_no = $1 AND r.line_no = $2",
        )
        .bind(batch_no.clone())
        .bind(first_line)
        .fetch_one(services.store().pool())
        .await
        .unwrap();
        if status == "pending" {
            inside_a_chunk += 1;
        }
        killed_at.push(done);
        node = Node::start(&options(&db, &key_file, 100));
    }
    // A killed chunk left no trace: its rows were pending again.
    assert!(
        inside_a_chunk > 0,
        "no kill fell inside a chunk's transaction"
    );
    eprintln!("killed at rows {killed_at:?} of {ROWS}, {inside_a_chunk} of 4 kills inside a chunk");
    wait_until_processed(&services, &batch_no).await;
    check_exactly_once(&services, &node, &batch_no).await;
    let (status, _) = node.stop();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgresql_share_a_batch_without_doing_a_row_twice() {
    let db = TestDb::new().await;
    if !db.is_postgres() {
        eprintln!("skipped: set SSCARD_TEST_POSTGRES_URL to run two servers on one PostgreSQL");
        return;
    }
    let services = db.services().await;
    let key_file = db.key_file();
    let employer = uscc(8);
    let list = prepare(&services, &employer).await;
    let first = Node::start(&options(&db, &key_file, 100));
    let second = Node::start(&options(&db, &key_file, 100));
    let batch_no = submit_and_accept(&first, &services, list, &employer).await;
    wait_until_processed(&services, &batch_no).await;
    check_exactly_once(&services, &second, &batch_no).await;

    // Both servers took chunks of the one batch.
    let details: Vec<(String,)> =
        sqlx::query_as("SELECT detail_json FROM audit_log WHERE action = 'batch.process_chunk'")
            .fetch_all(services.store().pool())
            .await
            .unwrap();
    let mut chunks_by_process: BTreeMap<u64, usize> = BTreeMap::new();
    for (detail,) in details {
        let detail: Value = serde_json::from_str(&detail).unwrap();
        *chunks_by_process
            .entry(detail["process"].as_u64().unwrap())
            .or_default() += 1;
    }
    eprintln!("chunks by server process: {chunks_by_process:?}");
    assert_eq!(chunks_by_process.len(), 2, "{chunks_by_process:?}");
    first.stop();
    second.stop();
}

fn principal(
    roles: &[sscard_domain::access::Role],
    employer: Option<&str>,
) -> sscard::service::accounts::Principal {
    sscard::service::accounts::Principal {
        account_id: uuid::Uuid::new_v4().to_string(),
        username: "cli.test".to_owned(),
        display_name: "命令行测试单位".to_owned(),
        roles: sscard_domain::access::RoleSet::new(
            roles.iter().copied(),
            false,
            employer.is_some(),
        )
        .unwrap(),
        bank_code: None,
        employer_uscc: employer.map(str::to_owned),
        must_change_password: false,
        session_expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sscard_batch_run_processes_an_accepted_batch_on_the_command_line() {
    use sscard_domain::access::Role;
    let db = TestDb::new().await;
    let services = db.services().await;
    let employer = uscc(9);
    let mut persons = Vec::new();
    let mut cards = Vec::new();
    let mut csv = String::from("姓名,身份证号,卡号\n");
    for n in 0..600 {
        persons.push(Person::employee(n, &format!("职工{n}"), &employer));
        cards.push(Card::of(n, &id_number(n), "collected"));
        csv.push_str(&format!("职工{n},{},{}\n", id_number(n), card_number(n)));
    }
    insert_registry(&services, &persons, &cards).await;
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), csv).unwrap();
    let client = sscard::service::accounts::Client::local();
    let (batch, _) = services
        .submit_batch(
            &principal(&[Role::Employer], Some(&employer)),
            sscard::service::batches::UploadedFile {
                file_name: "授权委托书.pdf",
                bytes: common::batches::LETTER_PDF.to_vec(),
            },
            sscard::service::batches::UploadedList {
                file_name: "名单.csv",
                path: list.path(),
            },
            None,
            &client,
        )
        .await
        .unwrap();
    let sscard = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sscard"))
            .args(args)
            .env_remove("SSCARD_CONFIG")
            .env("SSCARD_DATABASE_URL", db.url())
            .env("SSCARD_KEY_FILE", db.key_file())
            .env("SSCARD_BATCH_CHUNK_ROWS", "250")
            .env("SSCARD_LOG", "warn")
            .output()
            .expect("run sscard")
    };
    // Not accepted yet: nothing to do, and it says why.
    let output = sscard(&["batch", "run", &batch.batch_no]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("待受理") && stderr.contains("不在待经办"),
        "{stderr}"
    );
    services
        .act_on_batch(
            &principal(&[Role::Acceptor], None),
            &batch.batch_no,
            sscard_domain::case::CaseActionKind::Accept,
            &sscard::service::batches::BatchActionInput::default(),
            &client,
        )
        .await
        .unwrap();
    let output = sscard(&["batch", "run", &batch.batch_no]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("本次办理 600 行，启用 600 行，失败 0 行"),
        "{stdout}"
    );
    assert!(stdout.contains(&batch.batch_no), "{stdout}");
    let (done, total, state) = progress(&services, &batch.batch_no).await;
    assert_eq!(
        (done, total, state.as_str()),
        (600, 600, "awaiting_feedback")
    );
    // Three chunks of 250, 250 and 100 rows, one audit entry each.
    let (chunks,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'batch.process_chunk'")
            .fetch_one(services.store().pool())
            .await
            .unwrap();
    assert_eq!(chunks, 3);
    // Again: nothing left.
    let output = sscard(&["batch", "run"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("本次办理 0 行"));
}
