//! `GET /metrics`: the Prometheus text, its access rules, labels without
//! identifiers; and the JSON log format of the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestApp, TestDb, valid_id_number};
use reqwest::StatusCode;
use sscard::http::metrics::{AddressRange, MetricsToken};

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of one series line (`name{labels} value`), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

/// The sum of every series of a family.
fn family_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

const HEALTH_OK: &str = r#"sscard_http_requests_total{method="GET",route="/healthz",status="200"}"#;

#[tokio::test]
async fn metrics_show_requests_pool_and_domain_figures() {
    let app = TestApp::spawn().await;
    // The recorder is process-wide (other tests count too): compare deltas.
    let before = value(&scrape(&app).await, HEALTH_OK).unwrap_or(0.0);
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    }
    let text = scrape(&app).await;
    let after = value(&text, HEALTH_OK).expect("the health probe is counted");
    assert!(after - before >= 3.0, "{before} -> {after}");
    assert!(
        text.contains("# TYPE sscard_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"sscard_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"le="+Inf"}"#));
    assert!(text.contains(r#"sscard_build_info{version=""#));
    let open = value(
        &text,
        r#"sscard_db_pool_connections{pool="main",state="open"}"#,
    )
    .expect("pool gauge");
    assert!(open >= 1.0, "{text}");
    assert!(
        value(
            &text,
            r#"sscard_db_pool_connections{pool="main",state="idle"}"#
        )
        .is_some()
    );
    assert_eq!(value(&text, "sscard_persons"), Some(0.0));
    assert_eq!(family_sum(&text, "sscard_cards_by_social_state"), 0.0);
    assert!(value(&text, "sscard_audit_entries").is_some());

    // Two cardholders, one with a card.
    let first = valid_id_number("45022119800101123");
    let second = valid_id_number("45022119850202234");
    app.register_person(&first, "张三", None).await;
    app.register_person(&second, "李四", None).await;
    let services = app.db().services().await;
    let card = sscard::service::registry::CardInput {
        card_number: "M00000001".to_owned(),
        card_identification_code: "450200D15600000500000000000000A1".to_owned(),
        issuing_area_code: "450200".to_owned(),
        spec_version: "3.00".to_owned(),
        issue_date: "20240315".to_owned(),
        expiry_date: "20340314".to_owned(),
        holder_id_number: first.clone(),
        bank_code: "ICBC".to_owned(),
        bank_account: None,
        social_state: None,
        financial_state: None,
    }
    .parse()
    .expect("a valid card");
    services
        .register_card(&card, &sscard::service::Actor::system())
        .await
        .expect("register the card");
    app.staff("metrics.admin", &["admin"]).await;

    let text = scrape(&app).await;
    assert_eq!(value(&text, "sscard_persons"), Some(2.0), "{text}");
    assert_eq!(family_sum(&text, "sscard_cards_by_social_state"), 1.0);
    assert_eq!(family_sum(&text, "sscard_cards_by_financial_state"), 1.0);
    assert!(value(&text, "sscard_accounts").unwrap() >= 1.0);
    assert!(value(&text, "sscard_audit_entries").unwrap() >= 4.0);
    assert!(
        value(&text, r#"sscard_sign_ins_total{outcome="succeeded"}"#).unwrap() >= 1.0,
        "{text}"
    );
    for id_number in [&first, &second] {
        assert!(!text.contains(id_number.as_str()));
    }
    assert_eq!(family_sum(&text, "sscard_cases_by_state"), 0.0);
    assert_eq!(value(&text, "sscard_cases_overdue"), Some(0.0));

    // A posted application that arrived on 2026-09-30 is past its
    // acceptance step's due date, whenever this test runs later.
    let acceptor = app.staff("metrics.acceptor", &["acceptor"]).await;
    let mut form = common::cases::window_form(&first, "张三", "M00000001");
    form["channel"] = serde_json::json!("express");
    form["inbound_waybill"] = serde_json::json!("EMS1234567890");
    form["received_at"] = serde_json::json!("2026-09-30T10:00:00+08:00");
    let (status, body) = app
        .post_as(&acceptor.token, "/api/v1/applications", &form)
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, r#"sscard_cases_by_state{state="submitted"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "sscard_cases_overdue"), Some(1.0), "{text}");
    assert_eq!(
        value(&text, r#"sscard_cases_by_step{step="acceptance"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"sscard_cases_overdue_by_step{step="acceptance"}"#),
        Some(1.0),
        "{text}"
    );
    for step in ["supplement", "processing", "feedback"] {
        assert_eq!(
            value(&text, &format!(r#"sscard_cases_by_step{{step="{step}"}}"#)),
            Some(0.0),
            "{text}"
        );
    }
    let max =
        value(&text, r#"sscard_db_pool_max_connections{pool="main"}"#).expect("the pool's size");
    assert!(max >= open, "{text}");
}

/// Every connection pool of a node is in the pool gauges: on SQLite the
/// one-connection writer beside the main pool, on PostgreSQL the shared
/// rate-limit buckets' own pool (4 connections), busy once a limited
/// request has been answered.
#[tokio::test]
async fn every_database_pool_is_in_the_pool_gauges() {
    let app = TestApp::spawn().await;
    let postgres = app.db().is_postgres();
    // A rate-limited route (the progress query), answered whatever the body.
    let _ = app
        .post_json("/api/v1/progress", &serde_json::json!({}))
        .await;
    let text = scrape(&app).await;
    let (other, other_max) = if postgres {
        ("rate_limits", 4.0)
    } else {
        ("writer", 1.0)
    };
    let absent = if postgres { "writer" } else { "rate_limits" };
    assert_eq!(
        value(
            &text,
            &format!(r#"sscard_db_pool_max_connections{{pool="{other}"}}"#)
        ),
        Some(other_max),
        "{text}"
    );
    let open = value(
        &text,
        &format!(r#"sscard_db_pool_connections{{pool="{other}",state="open"}}"#),
    )
    .expect("the pool's connections");
    let idle = value(
        &text,
        &format!(r#"sscard_db_pool_connections{{pool="{other}",state="idle"}}"#),
    )
    .expect("the pool's idle connections");
    let in_use = value(
        &text,
        &format!(r#"sscard_db_pool_connections{{pool="{other}",state="in_use"}}"#),
    )
    .expect("the pool's busy connections");
    assert!((1.0..=other_max).contains(&open), "{text}");
    assert!((open - idle - in_use).abs() < f64::EPSILON, "{text}");
    assert!(!text.contains(&format!(r#"pool="{absent}""#)), "{text}");
    for line in text
        .lines()
        .filter(|line| line.starts_with("sscard_db_pool_"))
    {
        assert!(
            line.contains("pool=\""),
            "every pool series names its pool: {line}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn labels_hold_route_templates_never_identifiers() {
    let app = TestApp::spawn().await;
    let admin = app.staff("metrics.clerk", &["acceptor"]).await;
    let response = app
        .client
        .get(app.url("/api/v1/cards/A12345678"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let text = scrape(&app).await;
    assert!(
        text.contains(
            r#"sscard_http_requests_total{method="GET",route="/api/v1/cards/{card_number}",status="404"}"#
        ),
        "{text}"
    );
    assert!(!text.contains("A12345678"), "no card number in the metrics");
}

fn restricted(token: Option<&str>) -> sscard::http::HttpConfig {
    sscard::http::HttpConfig {
        metrics_allow: vec!["10.0.0.0/8".parse::<AddressRange>().unwrap()],
        metrics_token: token.map(|t| MetricsToken::new(t).unwrap()),
        ..TestApp::test_config()
    }
}

#[tokio::test]
async fn other_addresses_need_the_token() {
    let token = "scrape-token-0123456789";
    let app = TestApp::spawn_with(TestDb::new().await, restricted(Some(token))).await;
    let refused = app.get("/metrics").await;
    common::assert_problem(refused, StatusCode::FORBIDDEN, "METRICS_FORBIDDEN").await;
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-9876543210")
        .send()
        .await
        .unwrap();
    common::assert_problem(wrong, StatusCode::FORBIDDEN, "METRICS_FORBIDDEN").await;
    let allowed = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert!(allowed.text().await.unwrap().contains("sscard_persons"));

    // Without a configured token, only the address range opens it.
    let app = TestApp::spawn_with(TestDb::new().await, restricted(None)).await;
    let refused = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    common::assert_problem(refused, StatusCode::FORBIDDEN, "METRICS_FORBIDDEN").await;
}

#[tokio::test]
async fn json_logs_are_json_lines_with_the_request_id() {
    let db = TestDb::new().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG_FORMAT", "json")
        .env("SSCARD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sscard serve");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let next_line = |seen: &mut Vec<serde_json::Value>, deadline: Instant| {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(wait).ok()?;
        let json: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        seen.push(json.clone());
        Some(json)
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        let line = next_line(&mut seen, deadline).expect("the serving line");
        if let Some(address) = line["fields"]["address"].as_str() {
            break address.to_owned();
        }
    };
    let client = reqwest::Client::new();
    let id_number = valid_id_number("45022119900307251");
    let response = client
        .post(format!("http://{address}/api/v1/identifiers/check"))
        .header("x-request-id", "log-test-request-1")
        .json(&serde_json::json!({"id_number": id_number}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "log-test-request-1");

    let deadline = Instant::now() + Duration::from_secs(10);
    let access = loop {
        let Some(line) = next_line(&mut seen, deadline) else {
            let _ = child.kill();
            panic!("no access line with the request id: {seen:#?}");
        };
        if line["span"]["request_id"] == "log-test-request-1" {
            break line;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["span"]["path"], "/api/v1/identifiers/check");
    assert_eq!(access["fields"]["status"], 200, "{access}");
    assert!(
        access["spans"].as_array().is_some_and(|spans| spans
            .iter()
            .any(|s| s["request_id"] == "log-test-request-1")),
        "{access}"
    );
    let all = serde_json::to_string(&seen).unwrap();
    assert!(!all.contains(&id_number), "no ID number in the logs");
}

/// The shared rate limiter fails open: with its table unreachable a
/// limited request is let through, and each one is counted in
/// `sscard_rate_limit_store_errors_total` by budget.
#[tokio::test]
async fn a_rate_limit_store_failure_lets_requests_through_and_is_counted() {
    const SERIES: &str = r#"sscard_rate_limit_store_errors_total{budget="progress_query"}"#;
    let db = TestDb::new().await;
    let config = sscard::http::HttpConfig {
        rate_limit_store: sscard::http::limiter::BucketStore::Database,
        rate_limits: sscard::http::RateLimits::default(),
        ..TestApp::test_config()
    };
    let app = TestApp::spawn_with(db, config).await;
    let body = serde_json::json!({});
    let answered = app.post_json("/api/v1/progress", &body).await.0;
    assert_ne!(answered, StatusCode::TOO_MANY_REQUESTS);
    let before = value(&scrape(&app).await, SERIES).unwrap_or(0.0);
    assert_eq!(before, 0.0, "the buckets were reachable");

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.db().url()).await.unwrap();
    sqlx::query("DROP TABLE rate_limit_buckets")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // More than the budget's burst (30): none is refused.
    for _ in 0..35 {
        let (status, _) = app.post_json("/api/v1/progress", &body).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let after = value(&scrape(&app).await, SERIES).expect("the failures are counted");
    assert_eq!(after - before, 35.0);
    app.stop().await;
}
