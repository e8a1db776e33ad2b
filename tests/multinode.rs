//! Several nodes on one database behave as one system.
//!
//! - The shared rate-limit buckets (`rate_limit_buckets`, used on
//!   PostgreSQL) hold one budget under concurrent requests from two pools —
//!   checked on both engines, since the SQL is the same.
//! - Two real `sscard serve` processes on one fresh PostgreSQL database,
//!   with one key file and one blob store, driven alternately: sessions,
//!   cases, scans, idempotency keys, concurrent actions, the rate limits
//!   and the audit trail. Runs only with `SSCARD_TEST_POSTGRES_URL` (an
//!   embedded SQLite database is served by one node).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cases::{PNG_SCAN, register_person_with_card, window_form};
use common::node::{Node, NodeOptions, act, staff};
use common::{TestDb, otp_in, valid_id_number};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use sscard::http::hardening::{Budget, Limit, RateLimits};
use sscard::http::limiter::SharedLimiter;
use sscard::service::{Actor, Services};

#[tokio::test]
async fn shared_buckets_hold_one_budget_across_pools_under_concurrency() {
    let db = TestDb::new().await;
    let limits = RateLimits {
        progress_query: Limit::new(10, Duration::from_secs(3600)),
        ..RateLimits::default()
    };
    // Two "nodes": two pools on the same database.
    let a = std::sync::Arc::new(SharedLimiter::new(db.services().await.store(), limits));
    let b = std::sync::Arc::new(SharedLimiter::new(db.services().await.store(), limits));
    let client: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            limiter.check(Budget::ProgressQuery, client).await
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => allowed += 1,
            Err(wait) => {
                // The next request is an hour away (less what passed; a
                // little more for a request that read the clock before
                // another one that got in first).
                assert!(wait > Duration::from_secs(3500), "{wait:?}");
                assert!(wait < Duration::from_secs(3601), "{wait:?}");
            }
        }
    }
    assert_eq!(allowed, 10, "one budget of 10 for both pools");
    // Another client and another budget have their own buckets.
    let other: std::net::IpAddr = "198.51.100.8".parse().unwrap();
    assert!(a.check(Budget::ProgressQuery, other).await.is_ok());
    assert!(b.check(Budget::SignIn, client).await.is_ok());
    // An IPv6 client's whole /64 is one client, on every node.
    let v6: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let v6_same: std::net::IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
    for _ in 0..10 {
        assert!(a.check(Budget::ProgressQuery, v6).await.is_ok());
    }
    assert!(b.check(Budget::ProgressQuery, v6_same).await.is_err());

    // Pruning forgets only buckets that are full again.
    let pool = db.services().await.store().bucket_pool();
    let far_future = i64::MAX / 2;
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap();
    assert_eq!(
        sscard::store::rate_limits::prune(&pool, now).await.unwrap(),
        0
    );
    assert!(
        sscard::store::rate_limits::prune(&pool, far_future)
            .await
            .unwrap()
            >= 4
    );
    assert!(
        a.check(Budget::ProgressQuery, client).await.is_ok(),
        "a forgotten bucket is full"
    );
}

// ---------------------------------------------------------------------------
// Two nodes

/// A person of 柳江区 with a mobile number and a collected card, numbered `n`.
async fn person_with_card(services: &Services, n: u32, name: &str) -> (String, String) {
    let id_number = valid_id_number(&format!("450221198803{:02}{n:03}", n % 28 + 1));
    let card_number = format!("M{n:08}");
    register_person_with_card(
        services,
        &id_number,
        name,
        "13877212345",
        &card_number,
        "collected",
    )
    .await;
    (id_number, card_number)
}

/// Every audit entry of the cases: (application number, action, outcome)
/// and how often it was written.
async fn case_audit(db: &TestDb) -> BTreeMap<(String, String, String), usize> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db.url()).await.unwrap();
    let rows = sqlx::query(
        "SELECT c.application_no AS no, a.action AS action, a.outcome AS outcome \
         FROM audit_log a JOIN cases c ON a.object = 'case:' || c.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut counts = BTreeMap::new();
    for row in rows {
        let key = (
            row.try_get::<String, _>("no").unwrap(),
            row.try_get::<String, _>("action").unwrap(),
            row.try_get::<String, _>("outcome").unwrap(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn audit_verify(db: &TestDb) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["audit", "verify"])
        .env_remove("SSCARD_CONFIG")
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

#[tokio::test]
async fn two_nodes_on_one_postgres_database_behave_as_one() {
    let db = TestDb::new().await;
    if !db.is_postgres() {
        eprintln!("skipped: several nodes need PostgreSQL (set SSCARD_TEST_POSTGRES_URL)");
        return;
    }
    // Nodes started together migrate a new database once: two `sscard
    // migrate` at the same moment both succeed (sqlx holds PostgreSQL's
    // advisory lock while it migrates; without it the second would fail on
    // tables the first created).
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_sscard"))
            .arg("migrate")
            .env_remove("SSCARD_CONFIG")
            .env("SSCARD_DATABASE_URL", db.url())
            .env("SSCARD_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run sscard migrate")
    };
    let (first, second) = (migrate(), migrate());
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let blobs = tempfile::tempdir().unwrap();
    let key_file = db.key_file();
    let mut options = NodeOptions::new(db.url(), &key_file);
    options.blob_dir = Some(blobs.path());
    // The first node creates the schema and the key file; the second is
    // started with the same key file, as docs/operations.md says.
    let a = Node::start(&options);
    let b = Node::start(&options);
    let nodes = [&a, &b];
    let services = db.services().await;

    // Sessions live in the database: a session begun on one node is used on
    // the other, and ending it on one ends it on both.
    let acceptor = staff(&services, "shouli", &["acceptor"], &a, &b).await;
    let processor = staff(&services, "jingban", &["processor"], &b, &a).await;
    let feedback = staff(&services, "fankui", &["feedback"], &a, &b).await;
    let (status, me) = b.get(Some(&acceptor), "/api/v1/session").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "shouli");

    // A citizen asks for the code on A and signs in with it on B, uploads a
    // scan on A (the blob goes to the shared store) and applies on B.
    let (citizen_id, citizen_card) = person_with_card(&services, 1, "韦𠈌").await;
    let (status, body) = a
        .post(
            None,
            "/api/v1/citizen/otp",
            &json!({ "id_number": citizen_id, "name": "韦𠈌" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let outbox = services.sms_outbox(&Actor::system()).await.unwrap();
    let code = otp_in(&outbox[0].text).expect("a code in the SMS");
    let (status, body) = b
        .post(
            None,
            "/api/v1/citizen/session",
            &json!({ "id_number": citizen_id, "name": "韦𠈌", "code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let citizen = body["token"].as_str().unwrap().to_owned();
    let upload = {
        let part = reqwest::multipart::Part::bytes(PNG_SCAN.to_vec()).file_name("申请表.png");
        let response = a
            .client
            .post(a.url("/api/v1/uploads"))
            .bearer_auth(&citizen)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["upload_id"].as_str().unwrap().to_owned()
    };
    let (status, online) = b
        .post(
            Some(&citizen),
            "/api/v1/applications",
            &json!({
                "applicant": {
                    "name": "韦𠈌", "id_number": citizen_id, "mobile": "13877212345",
                    "address": "广西柳州市柳江区柳堡路318号",
                },
                "card_number": citizen_card,
                "delivery": { "method": "online" },
                "materials": [{ "code": "application_form", "upload_id": upload }],
                "declaration": true,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{online}");
    let online_no = online["application_no"].as_str().unwrap().to_owned();
    // The scan stored by A is served by B.
    let scan = b
        .client
        .get(b.url(&format!("/api/v1/uploads/{upload}")))
        .bearer_auth(&acceptor)
        .send()
        .await
        .unwrap();
    assert_eq!(scan.status(), StatusCode::OK);
    assert_eq!(scan.bytes().await.unwrap().as_ref(), PNG_SCAN);

    // Walk-in cases, each step on the other node than the one before:
    // submit on A, accept on B, approve on A, deliver on B (and the other
    // way round for every second case).
    let mut cases = vec![(online_no.clone(), citizen_card.clone())];
    for n in 2..=7 {
        let (id, card) = person_with_card(&services, n, "黄明").await;
        let node = nodes[n as usize % 2];
        let (status, body) = node
            .post(
                Some(&acceptor),
                "/api/v1/applications",
                &window_form(&id, "黄明", &card),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        cases.push((body["application_no"].as_str().unwrap().to_owned(), card));
    }
    for (i, (no, _)) in cases.iter().enumerate() {
        let first = nodes[i % 2];
        let second = nodes[(i + 1) % 2];
        act(second, &acceptor, no, "accept", &Value::Null).await;
        act(first, &processor, no, "approve", &Value::Null).await;
        let delivery = if i == 0 {
            Value::Null
        } else {
            json!({ "delivery": { "collected_by": "holder" } })
        };
        let done = act(second, &feedback, no, "deliver", &delivery).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["outcome"], "approved");
    }
    // Both nodes see every case completed and every card active.
    for (no, card) in &cases {
        for node in nodes {
            let (status, case) = node
                .get(Some(&processor), &format!("/api/v1/applications/{no}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{case}");
            assert_eq!(case["status"], "completed");
            let (_, card) = node
                .get(Some(&processor), &format!("/api/v1/cards/{card}"))
                .await;
            assert_eq!(card["social_state"]["code"], "normal", "{card}");
        }
    }

    // The same action sent to both nodes at once is done once: one answer
    // succeeds, the other finds the case already accepted.
    let (id, card) = person_with_card(&services, 8, "覃丽").await;
    let (status, body) = a
        .post(
            Some(&acceptor),
            "/api/v1/applications",
            &window_form(&id, "覃丽", &card),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let raced = body["application_no"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/applications/{raced}/accept");
    let (first, second) = tokio::join!(
        a.post(Some(&acceptor), &path, &Value::Null),
        b.post(Some(&acceptor), &path, &Value::Null)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );

    // An Idempotency-Key used on one node is known to the other: the replay
    // gets the first answer, and two copies sent at once make one case.
    let (id, card) = person_with_card(&services, 9, "陆远").await;
    let form = window_form(&id, "陆远", &card);
    let submit = |node: &Node, key: &'static str| {
        node.client
            .post(node.url("/api/v1/applications"))
            .bearer_auth(&acceptor)
            .header("Idempotency-Key", key)
            .json(&form)
            .send()
    };
    let answer = async |response: reqwest::Response| {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["application_no"].as_str().unwrap().to_owned()
    };
    let original = answer(submit(&a, "multinode-0001").await.unwrap()).await;
    let replayed = answer(submit(&b, "multinode-0001").await.unwrap()).await;
    assert_eq!(original, replayed);
    let (id, card) = person_with_card(&services, 10, "蓝天").await;
    let twin_form = window_form(&id, "蓝天", &card);
    let twin = |node: &Node| {
        node.client
            .post(node.url("/api/v1/applications"))
            .bearer_auth(&acceptor)
            .header("Idempotency-Key", "multinode-0002")
            .json(&twin_form)
            .send()
    };
    let (left, right) = tokio::join!(twin(&a), twin(&b));
    let left = answer(left.unwrap()).await;
    let right = answer(right.unwrap()).await;
    assert_eq!(left, right, "two copies at once make one case");

    // The audit trail: intact, and one entry per action done — none twice.
    let verified = audit_verify(&db);
    assert!(verified.contains("审计日志完整"), "{verified}");
    let audit = case_audit(&db).await;
    let succeeded = |no: &str, action: &str| {
        audit
            .get(&(no.to_owned(), action.to_owned(), "succeeded".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    for (no, _) in &cases {
        for action in ["case.submit", "case.accept", "case.approve", "case.deliver"] {
            assert_eq!(succeeded(no, action), 1, "{no} {action}: {audit:?}");
        }
    }
    assert_eq!(succeeded(&raced, "case.accept"), 1, "{audit:?}");
    assert_eq!(succeeded(&left, "case.submit"), 1, "{audit:?}");
    assert_eq!(succeeded(&original, "case.submit"), 1, "{audit:?}");
    let submitted: usize = audit
        .iter()
        .filter(|((_, action, outcome), _)| action == "case.submit" && outcome == "succeeded")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        submitted,
        cases.len() + 3,
        "every submission once: {audit:?}"
    );

    // Signing out on B ends the session on A too.
    let response = b
        .client
        .delete(b.url("/api/v1/session"))
        .bearer_auth(&feedback)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let (status, _) = a.get(Some(&feedback), "/api/v1/session").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // One budget for both nodes: wrong progress queries sent alternately
    // are refused after the production burst of 30 (plus at most one more
    // for every 2 s the queries took), not after 30 per node.
    let limit = RateLimits::default().progress_query;
    let started = Instant::now();
    let mut passed = 0u32;
    let mut refused_at = None;
    for i in 0..90u32 {
        let node = nodes[i as usize % 2];
        let (status, body) = node
            .post(
                None,
                "/api/v1/progress",
                &json!({
                    "application_no": "SQ-20260101-000001",
                    "id_number": citizen_id,
                    "name": "不对",
                }),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["code"], "RATE_LIMITED", "{body}");
            refused_at = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        passed += 1;
    }
    let elapsed = started.elapsed();
    assert!(refused_at.is_some(), "no 429 after {passed} queries");
    let refills = u32::try_from(elapsed.as_millis() / limit.refill_every.as_millis()).unwrap() + 1;
    assert!(
        passed >= limit.burst && passed <= limit.burst + refills,
        "{passed} queries passed in {elapsed:?}; one node alone allows {} (+1 per {:?})",
        limit.burst,
        limit.refill_every
    );

    // Each node counts the refusals it answered.
    let mut refusals = 0.0;
    for node in nodes {
        let text = node
            .client
            .get(node.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        refusals += text
            .lines()
            .find_map(|line| {
                line.strip_prefix(r#"sscard_rate_limited_total{budget="progress_query"} "#)
            })
            .map_or(0.0, |v| v.parse::<f64>().unwrap());
    }
    assert!(refusals >= 1.0, "the 429 is counted");

    let (exit_a, _) = a.stop();
    let (exit_b, _) = b.stop();
    assert!(exit_a.success() && exit_b.success(), "{exit_a} {exit_b}");
}

// ---------------------------------------------------------------------------
// Behind a reverse proxy

/// A wrong progress query "from" `forwarded` (the proxy's `X-Forwarded-For`).
async fn query_from(app: &common::TestApp, forwarded: &str) -> StatusCode {
    app.client
        .post(app.url("/api/v1/progress"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({
            "application_no": "SQ-20260101-000001",
            "id_number": valid_id_number("45022119900101123"),
            "name": "不对",
        }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_address() {
    use common::TestApp;

    // The test client at 127.0.0.1 plays the reverse proxy.
    let config = sscard::http::HttpConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..sscard::http::HttpConfig::default()
    };
    let app = TestApp::spawn_with(TestDb::new().await, config).await;
    let burst = RateLimits::default().progress_query.burst;
    for _ in 0..burst {
        assert_eq!(
            query_from(&app, "198.51.100.7").await,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        query_from(&app, "198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own budget …
    assert_eq!(
        query_from(&app, "198.51.100.8").await,
        StatusCode::NOT_FOUND
    );
    // … and cannot take another one's by writing the header itself: the
    // proxy appends the address it saw, and only that one is believed.
    assert_eq!(
        query_from(&app, "198.51.100.9, 198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The audit trail records the client, not the proxy.
    let services = app.db().services().await;
    let created = services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: "clerk.proxy".to_owned(),
                display_name: None,
                roles: vec!["acceptor".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &Actor::system(),
        )
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&json!({ "username": "clerk.proxy", "password": created.initial_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let from: Vec<String> =
        sqlx::query_scalar("SELECT client_address FROM audit_log WHERE action = 'session.sign_in'")
            .fetch_all(services.store().pool())
            .await
            .unwrap();
    assert_eq!(from, ["203.0.113.5"]);

    // Without trusted proxies the header is ignored: one budget for all.
    let app = TestApp::spawn_with(TestDb::new().await, sscard::http::HttpConfig::default()).await;
    for i in 0..burst {
        assert_eq!(
            query_from(&app, &format!("198.51.100.{i}")).await,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        query_from(&app, "198.51.100.200").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

// ---------------------------------------------------------------------------
// Measurement

/// Not a test: what the shared buckets cost the public progress query.
/// `cargo nextest run --release --test multinode --run-ignored only
/// measure` (with `SSCARD_TEST_POSTGRES_URL` for PostgreSQL); the figures
/// are in BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md"]
async fn measure_the_progress_query_with_each_bucket_store() {
    use common::TestApp;
    use sscard::http::limiter::BucketStore;

    const QUERIES: usize = 4000;
    const CONCURRENCY: usize = 8;
    for store in [BucketStore::Memory, BucketStore::Database] {
        let db = TestDb::new().await;
        let backend = if db.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        let config = sscard::http::HttpConfig {
            // Every query comes from 127.0.0.1: no budget is exhausted, but
            // each query still takes its request from the bucket.
            rate_limits: RateLimits::default().scaled(1_000_000.0),
            rate_limit_store: store,
            ..TestApp::test_config()
        };
        let app = TestApp::spawn_with(db, config).await;
        let services = app.db().services().await;
        let (id, card) = person_with_card(&services, 1, "黄明").await;
        let clerk = app.staff("window1", &["acceptor"]).await;
        let case = app
            .submit_as(&clerk.token, &window_form(&id, "黄明", &card))
            .await;
        let body = json!({
            "application_no": case["application_no"],
            "id_number": id,
            "name": "黄明",
        });
        let app = std::sync::Arc::new(app);
        let run = async |count: usize| {
            let started = Instant::now();
            let mut workers = Vec::new();
            for _ in 0..CONCURRENCY {
                let app = app.clone();
                let body = body.clone();
                workers.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    for _ in 0..count / CONCURRENCY {
                        let at = Instant::now();
                        let (status, answer) = app.post_json("/api/v1/progress", &body).await;
                        assert_eq!(status, StatusCode::OK, "{answer}");
                        latencies.push(at.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies = Vec::new();
            for worker in workers {
                latencies.extend(worker.await.unwrap());
            }
            latencies.sort();
            (latencies, started.elapsed())
        };
        run(400).await;
        let (latencies, elapsed) = run(QUERIES).await;
        let at = |per_mille: usize| latencies[(latencies.len() - 1) * per_mille / 1000];
        println!(
            "{backend}, buckets {store:?}: {QUERIES} progress queries, {CONCURRENCY} at a time: \
             {:.0}/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            latencies.len() as f64 / elapsed.as_secs_f64(),
            at(500).as_secs_f64() * 1000.0,
            at(950).as_secs_f64() * 1000.0,
            at(990).as_secs_f64() * 1000.0,
        );
        if store == BucketStore::Database {
            // The upsert alone, one at a time, from a fresh pool.
            let limiter = SharedLimiter::new(
                app.db().services().await.store(),
                RateLimits::default().scaled(1_000_000.0),
            );
            let client: std::net::IpAddr = "198.51.100.7".parse().unwrap();
            let mut latencies = Vec::new();
            for _ in 0..2000 {
                let at = Instant::now();
                assert!(limiter.check(Budget::ProgressQuery, client).await.is_ok());
                latencies.push(at.elapsed());
            }
            latencies.sort();
            println!(
                "{backend}: the shared bucket's upsert alone: p50 {:.3} ms, p95 {:.3} ms",
                latencies[1000].as_secs_f64() * 1000.0,
                latencies[1900].as_secs_f64() * 1000.0,
            );
        }
    }
}
