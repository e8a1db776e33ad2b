//! Citizens sign in with ID number, name and a one-time code sent by SMS:
//! the simulated outbox, the HTTP gateway against a local provider, the
//! code's lifetime, tries and single use, the limits, and what the answers
//! and the audit trail reveal — on SQLite, or on PostgreSQL when
//! `SSCARD_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::{TestApp, TestDb, assert_problem, otp_in, valid_id_number};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use sscard::service::sms::{HttpGateway, SmsKey};

const MOBILE: &str = "13877212345";
const ANSWER: &str = "如身份信息与登记信息一致，验证码已发送至预留手机号，5 分钟内有效。";

async fn request_otp(app: &TestApp, id_number: &str, name: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/citizen/otp"))
        .json(&json!({ "id_number": id_number, "name": name }))
        .send()
        .await
        .expect("POST /api/v1/citizen/otp")
}

async fn sign_in(app: &TestApp, id_number: &str, name: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/citizen/session"))
        .json(&json!({ "id_number": id_number, "name": name, "code": code }))
        .send()
        .await
        .expect("POST /api/v1/citizen/session")
}

/// Asks for a code and checks the one answer everybody gets.
async fn accepted(app: &TestApp, id_number: &str, name: &str) -> Value {
    let response = request_otp(app, id_number, name).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["message"].as_str().unwrap().starts_with(ANSWER),
        "{body}"
    );
    assert_eq!(body["expires_in_seconds"], 300);
    assert_eq!(body["resend_after_seconds"], 60);
    body
}

/// The newest code in the simulated outbox.
async fn newest_code(app: &TestApp) -> String {
    let (_, text) = app
        .sms_outbox()
        .await
        .into_iter()
        .next()
        .expect("an SMS in the outbox");
    otp_in(&text).expect("a 6-digit code in the SMS")
}

/// Another 6-digit code than `code`.
fn other_code(code: &str, step: u32) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + step) % 1_000_000)
}

async fn pool(app: &TestApp) -> sscard::store::Pool {
    app.db().services().await.store().pool().clone()
}

/// Every audit detail ever written, as text.
async fn audit_details(app: &TestApp) -> Vec<(String, String, String, String)> {
    sqlx::query("SELECT action, object, outcome, detail_json FROM audit_log ORDER BY occurred_at")
        .fetch_all(&pool(app).await)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.get("action"),
                row.get("object"),
                row.get("outcome"),
                row.get("detail_json"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_registered_person_signs_in_with_the_code_from_the_sms_once() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119900101123");
    let person_id = app.register_person(&id_number, "张𠈌", Some(MOBILE)).await;
    let admin = app.staff("admin.zhao", &["admin"]).await;

    // Lower-case x / spaces around the name are accepted as on the ID card.
    accepted(&app, &id_number.to_lowercase(), " 张𠈌 ").await;

    // The administrator reads the simulated outbox: masked number, full text.
    let outbox = app
        .client
        .get(app.url("/api/v1/admin/sms-outbox"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(outbox.status(), StatusCode::OK);
    let outbox: Value = outbox.json().await.unwrap();
    let messages = outbox["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{outbox}");
    assert_eq!(messages[0]["mobile_masked"], "138****2345");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("【柳江区人社局】您的验证码为 ")
            && text.ends_with("，5 分钟内有效。请勿告诉他人。"),
        "{text}"
    );
    assert!(!outbox.to_string().contains(MOBILE), "the number is masked");
    let code = otp_in(text).expect("a code");

    // Stored only as its HMAC: neither the code nor the number in clear.
    let rows =
        sqlx::query("SELECT code_hash, attempts, used_at FROM otp_codes WHERE person_id = $1")
            .bind(person_id.clone())
            .fetch_all(&pool(&app).await)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    let code_hash: String = rows[0].get("code_hash");
    assert_eq!(code_hash.len(), 64);
    assert!(!code_hash.contains(&code));
    let sealed: Vec<String> = sqlx::query("SELECT mobile_sealed, text_sealed FROM sms_outbox")
        .fetch_all(&pool(&app).await)
        .await
        .unwrap()
        .iter()
        .flat_map(|row| {
            [
                row.get::<String, _>("mobile_sealed"),
                row.get("text_sealed"),
            ]
        })
        .collect();
    assert!(
        sealed
            .iter()
            .all(|v| !v.contains(MOBILE) && !v.contains(&code))
    );

    let response = sign_in(&app, &id_number, "张𠈌", &code).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("c_"), "{token}");
    assert!(body["expires_at"].as_str().is_some());

    let me = app
        .client
        .get(app.url("/api/v1/citizen/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["name"], "张𠈌");
    assert_eq!(
        me["id_number_masked"],
        format!("450221********{}", &id_number[14..])
    );

    // A used code cannot be used again.
    let again = sign_in(&app, &id_number, "张𠈌", &code).await;
    let problem = assert_problem(again, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;
    assert_eq!(problem["detail"], "验证码错误或已过期，请重新获取。");

    // A citizen token opens no staff route, a staff token no citizen route.
    let staff_route = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(staff_route, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;
    let citizen_route = app
        .client
        .get(app.url("/api/v1/citizen/session"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_problem(citizen_route, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;

    let out = app
        .client
        .delete(app.url("/api/v1/citizen/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = app
        .client
        .get(app.url("/api/v1/citizen/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(after, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED").await;

    // The trail: who asked, who signed in (refusal included), who read the
    // outbox — and never the code or the number.
    let audit = audit_details(&app).await;
    let object = format!("person:{person_id}");
    let entries: Vec<(&str, &str)> = audit
        .iter()
        .filter(|(_, o, _, _)| *o == object)
        .map(|(a, _, outcome, _)| (a.as_str(), outcome.as_str()))
        .collect();
    for expected in [
        ("citizen.otp_request", "succeeded"),
        ("citizen.sign_in", "succeeded"),
        ("citizen.sign_in", "refused"),
        ("citizen.sign_out", "succeeded"),
    ] {
        assert!(entries.contains(&expected), "{expected:?} in {entries:?}");
    }
    assert!(
        audit
            .iter()
            .any(|(a, o, _, _)| a == "sms_outbox.read" && o == "sms_outbox")
    );
    for (action, _, _, detail) in &audit {
        assert!(
            !detail.contains(&code) && !detail.contains(MOBILE) && !detail.contains(&id_number),
            "{action}: {detail}"
        );
    }
    let verify = app.db().services().await.verify_audit().await.unwrap();
    assert!(verify.is_intact(), "{:?}", verify.problems);
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_even_when_tried_in_parallel() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119850505201");
    let person_id = app.register_person(&id_number, "李四", Some(MOBILE)).await;
    accepted(&app, &id_number, "李四").await;
    let code = newest_code(&app).await;

    for step in 1..=4 {
        let response = sign_in(&app, &id_number, "李四", &other_code(&code, step)).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;
    }
    // The fifth wrong try and more, all at once: only one more try counts.
    let mut tries = tokio::task::JoinSet::new();
    for step in 5..=10 {
        let client = app.client.clone();
        let url = app.url("/api/v1/citizen/session");
        let body =
            json!({ "id_number": id_number, "name": "李四", "code": other_code(&code, step) });
        tries.spawn(async move { client.post(url).json(&body).send().await.unwrap().status() });
    }
    while let Some(status) = tries.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let attempts: i64 = sqlx::query("SELECT attempts FROM otp_codes WHERE person_id = $1")
        .bind(person_id)
        .fetch_one(&pool(&app).await)
        .await
        .unwrap()
        .get("attempts");
    assert_eq!(attempts, 5);

    let right = sign_in(&app, &id_number, "李四", &code).await;
    assert_problem(right, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;
}

#[tokio::test]
async fn an_expired_code_is_refused_and_a_wrong_name_never_signs_in() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022120000229002");
    let person_id = app.register_person(&id_number, "王五", Some(MOBILE)).await;
    accepted(&app, &id_number, "王五").await;
    let code = newest_code(&app).await;

    // The right code with another name.
    let response = sign_in(&app, &id_number, "王伍", &code).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;

    // Five minutes pass.
    let past = sscard::store::format_time(chrono::Utc::now() - chrono::Duration::seconds(1));
    sqlx::query("UPDATE otp_codes SET expires_at = $1 WHERE person_id = $2")
        .bind(past)
        .bind(person_id)
        .execute(&pool(&app).await)
        .await
        .unwrap();
    let response = sign_in(&app, &id_number, "王五", &code).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;

    // Malformed input is told field by field, all at once.
    let response = sign_in(&app, "45022120000229003", "", "12345").await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id_number", "name", "code"], "{problem}");
}

#[tokio::test]
async fn unknown_persons_and_wrong_names_get_the_same_answer_and_no_sms() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119700707301");
    app.register_person(&id_number, "赵六", Some(MOBILE)).await;
    let without_mobile = valid_id_number("45022119700707402");
    app.register_person(&without_mobile, "钱七", None).await;

    let known = accepted(&app, &id_number, "赵六").await;
    assert_eq!(app.sms_outbox().await.len(), 1);
    let unknown = accepted(&app, &valid_id_number("45022119700707503"), "孙八").await;
    let wrong_name = accepted(&app, &id_number, "赵陆").await;
    let no_mobile = accepted(&app, &without_mobile, "钱七").await;
    assert_eq!(known, unknown);
    assert_eq!(known, wrong_name);
    assert_eq!(known, no_mobile);
    assert_eq!(app.sms_outbox().await.len(), 1, "no SMS but the first");

    // Signing in as someone unknown answers as a wrong code does.
    let response = sign_in(
        &app,
        &valid_id_number("45022119700707503"),
        "孙八",
        "123456",
    )
    .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;

    // A malformed ID number is a field error (it tells nothing about anyone).
    let wrong_check = format!(
        "{}{}",
        &id_number[..17],
        if id_number.ends_with('0') { '1' } else { '0' }
    );
    let response = request_otp(&app, &wrong_check, "赵六").await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "id_number");
}

#[tokio::test]
async fn codes_are_limited_silently_per_person_and_openly_per_address() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119921212181");
    let person_id = app.register_person(&id_number, "周九", Some(MOBILE)).await;
    let pool = pool(&app).await;
    let backdate = || backdate_codes(&pool, &person_id);

    accepted(&app, &id_number, "周九").await;
    let first = newest_code(&app).await;
    // Again at once: the same answer, but no second SMS.
    accepted(&app, &id_number, "周九").await;
    assert_eq!(app.sms_outbox().await.len(), 1);

    // A minute later a new code comes, and only the newest one signs in.
    backdate().await;
    accepted(&app, &id_number, "周九").await;
    assert_eq!(app.sms_outbox().await.len(), 2);
    let second = newest_code(&app).await;
    if first != second {
        let old = sign_in(&app, &id_number, "周九", &first).await;
        assert_problem(old, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;
    }

    // Five codes an hour at most.
    for _ in 0..3 {
        backdate().await;
        accepted(&app, &id_number, "周九").await;
    }
    assert_eq!(app.sms_outbox().await.len(), 5);
    backdate().await;
    accepted(&app, &id_number, "周九").await;
    assert_eq!(
        app.sms_outbox().await.len(),
        5,
        "the sixth in an hour is not sent"
    );
    let refused: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'citizen.otp_request' \
         AND outcome = 'refused' AND object = $1",
    )
    .bind(format!("person:{person_id}"))
    .fetch_one(&pool)
    .await
    .unwrap()
    .get("n");
    assert_eq!(refused, 2);

    // Per client address: 20 requests in 15 minutes, whoever they name
    // (7 so far).
    for n in 7..20 {
        accepted(
            &app,
            &valid_id_number(&format!("45022119900101{n:03}")),
            "某人",
        )
        .await;
    }
    let response = request_otp(&app, &id_number, "周九").await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "OTP_RATE_LIMITED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("分钟后再试"),
        "{problem}"
    );
}

/// A minute and a bit passes for every code of the person issued so far.
async fn backdate_codes(pool: &sscard::store::Pool, person_id: &str) {
    let codes = sqlx::query("SELECT id, created_at FROM otp_codes WHERE person_id = $1")
        .bind(person_id.to_owned())
        .fetch_all(pool)
        .await
        .unwrap();
    for row in codes {
        let created: String = row.get("created_at");
        let created = sscard::store::parse_time(&created).unwrap() - chrono::Duration::seconds(61);
        sqlx::query("UPDATE otp_codes SET created_at = $1 WHERE id = $2")
            .bind(sscard::store::format_time(created))
            .bind(row.get::<String, _>("id"))
            .execute(pool)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------
// The HTTP gateway against a provider on this machine
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Provider {
    status: AtomicU16,
    received: Mutex<Vec<(Option<String>, Value)>>,
}

async fn provider_endpoint(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> AxumStatus {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    provider
        .received
        .lock()
        .unwrap()
        .push((authorization, body));
    AxumStatus::from_u16(provider.status.load(Ordering::SeqCst)).unwrap()
}

/// A pretend SMS provider on port 0; answers with the status it is set to.
async fn spawn_provider() -> (Arc<Provider>, String) {
    let provider = Arc::new(Provider::default());
    provider.status.store(200, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/sms/send", axum::routing::post(provider_endpoint))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms/send", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (provider, url)
}

#[tokio::test]
async fn the_http_gateway_posts_to_the_provider_and_a_refusal_withdraws_the_code() {
    let (provider, url) = spawn_provider().await;
    let db = TestDb::new().await;
    let gateway = HttpGateway::new(&url, SmsKey::new("provider-key-7").unwrap()).unwrap();
    let services = db.services().await.with_sms_gateway(Arc::new(gateway));
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services).await;
    let admin = app.staff("admin.sun", &["admin"]).await;

    let id_number = valid_id_number("45022119880808161");
    app.register_person(&id_number, "吴十", Some(MOBILE)).await;
    accepted(&app, &id_number, "吴十").await;
    let (authorization, body) = provider.received.lock().unwrap()[0].clone();
    assert_eq!(authorization.as_deref(), Some("Bearer provider-key-7"));
    assert_eq!(body["mobile"], MOBILE);
    let code = otp_in(body["text"].as_str().unwrap()).expect("a code");
    let response = sign_in(&app, &id_number, "吴十", &code).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // With a real provider there is no outbox to read.
    let outbox = app
        .client
        .get(app.url("/api/v1/admin/sms-outbox"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_problem(outbox, StatusCode::NOT_FOUND, "SMS_OUTBOX_DISABLED").await;

    // The provider fails: the citizen is told, and the code is withdrawn.
    provider.status.store(500, Ordering::SeqCst);
    let other = valid_id_number("45022119880808242");
    let person_id = app
        .register_person(&other, "郑十一", Some("13912345678"))
        .await;
    let response = request_otp(&app, &other, "郑十一").await;
    let problem = assert_problem(response, StatusCode::BAD_GATEWAY, "SMS_SEND_FAILED").await;
    assert!(problem["detail"].as_str().unwrap().contains("短信发送失败"));
    let (_, body) = provider.received.lock().unwrap()[1].clone();
    assert_eq!(body["mobile"], "13912345678");
    let lost_code = otp_in(body["text"].as_str().unwrap()).expect("a code");
    let response = sign_in(&app, &other, "郑十一", &lost_code).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "OTP_INVALID").await;
    let failed: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'citizen.otp_send' \
         AND outcome = 'failed' AND object = $1",
    )
    .bind(format!("person:{person_id}"))
    .fetch_one(&pool(&app).await)
    .await
    .unwrap()
    .get("n");
    assert_eq!(failed, 1);

    // Once the provider is back, the person can ask again at once.
    provider.status.store(204, Ordering::SeqCst);
    accepted(&app, &other, "郑十一").await;
    let (_, body) = provider.received.lock().unwrap()[2].clone();
    let code = otp_in(body["text"].as_str().unwrap()).expect("a code");
    let response = sign_in(&app, &other, "郑十一", &code).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    for (action, _, _, detail) in audit_details(&app).await {
        assert!(
            !detail.contains(&code) && !detail.contains(&lost_code),
            "{action}: {detail}"
        );
    }
}

/// `GET /api/v1/citizen/session` with `token`.
async fn citizen_me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/citizen/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Sets a time column of the citizen sessions of `person_id`.
async fn set_citizen_session_time(
    app: &TestApp,
    person_id: &str,
    column: &str,
    value: chrono::DateTime<chrono::Utc>,
) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE citizen_sessions SET {column} = $1 WHERE person_id = $2"
    )))
    .bind(sscard::store::format_time(value))
    .bind(person_id.to_owned())
    .execute(&pool(app).await)
    .await
    .unwrap();
}

/// A citizen request reads its session and its person in one statement: the
/// person is shown, the timers hold and the idle timer restarts.
#[tokio::test]
async fn a_citizen_session_is_checked_against_its_timers_and_shows_its_person() {
    let app = TestApp::spawn().await;
    let citizen = app.citizen("45022119900101123", "韦秀兰").await;
    let response = citizen_me(&app, &citizen.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "韦秀兰");
    assert_eq!(
        body["id_number_masked"],
        format!("450221********{}", &citizen.id_number[14..])
    );

    // Last seen two minutes ago: still open, and the idle timer restarts.
    let two_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(2);
    set_citizen_session_time(&app, &citizen.person_id, "last_seen_at", two_minutes_ago).await;
    assert_eq!(
        citizen_me(&app, &citizen.token).await.status(),
        StatusCode::OK
    );
    let last_seen: String =
        sqlx::query("SELECT last_seen_at FROM citizen_sessions WHERE person_id = $1")
            .bind(citizen.person_id.clone())
            .fetch_one(&pool(&app).await)
            .await
            .unwrap()
            .get("last_seen_at");
    let last_seen = sscard::store::parse_time(&last_seen).unwrap();
    assert!(
        last_seen > two_minutes_ago + chrono::Duration::minutes(1),
        "{last_seen}"
    );

    // Idle for longer than the timeout: over.
    let idle = chrono::Utc::now()
        - sscard::service::citizens::CITIZEN_SESSION_IDLE_TIMEOUT
        - chrono::Duration::seconds(1);
    set_citizen_session_time(&app, &citizen.person_id, "last_seen_at", idle).await;
    assert_problem(
        citizen_me(&app, &citizen.token).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
    )
    .await;

    // Seen just now but past its end: over.
    set_citizen_session_time(&app, &citizen.person_id, "last_seen_at", chrono::Utc::now()).await;
    set_citizen_session_time(
        &app,
        &citizen.person_id,
        "expires_at",
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .await;
    assert_problem(
        citizen_me(&app, &citizen.token).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
    )
    .await;

    // A well-formed token of no session.
    let unknown = format!("c_{}", "A".repeat(citizen.token.len() - 2));
    assert_ne!(unknown, citizen.token);
    let response = citizen_me(&app, &unknown).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
