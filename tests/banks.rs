//! The cooperating banks (issue 7) over HTTP, on SQLite and PostgreSQL: the
//! bank registry, the activation of a card's financial function at a bank
//! counter (every refusal, idempotency, concurrency), and the bank systems'
//! SM2-signed interface (a good request, and a tampered body, a wrong key, a
//! stale timestamp, a replayed nonce and an unsigned request each refused,
//! every answer signed by the bureau).

mod common;

use common::bank::{BankCard, ICBC_BINS, Signing, account, test_key, verified_answer};
use common::cases::{card_number, window_form};
use common::{TestApp, assert_problem, page, page_client, post_form, valid_id_number};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sscard_crypto::Sm2SigningKey;

fn activation(number: &str, id_number: &str) -> Value {
    json!({
        "card_number": number,
        "id_number": id_number,
        "holder_present": true,
        "id_verified_by": "card_reader",
    })
}

async fn history_len(app: &TestApp, number: &str) -> usize {
    app.card_view(number).await.history.len()
}

async fn audit_count(app: &TestApp) -> i64 {
    let services = app.db().services().await;
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log")
        .fetch_one(services.store().pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn administrators_keep_the_bank_registry() {
    let app = TestApp::spawn().await;
    let admin = app.staff("bank.admin", &["admin"]).await;
    let acceptor = app.staff("bank.acceptor", &["acceptor"]).await;
    let icbc = json!({
        "code": "icbc",
        "name": "中国工商银行柳州分行",
        "bins": ["621226", "622202"],
        "contact_name": "王经理",
        "contact_phone": "0772-2812345",
        "api_public_key": sscard::service::banks::example::TEST_PUBLIC_KEY_PEM,
    });
    let (status, created) = app.post_as(&admin.token, "/api/v1/banks", &icbc).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["code"], "ICBC");
    assert_eq!(created["status"], "active");
    assert_eq!(created["status_label"], "合作中");
    assert_eq!(created["bins"], json!(["621226", "622202"]));
    assert_eq!(created["api_key_id"].as_str().unwrap().len(), 16);

    let (status, again) = app.post_as(&admin.token, "/api/v1/banks", &icbc).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["code"], "BANK_ALREADY_REGISTERED");

    // Every problem at once; a BIN inside another bank's is refused naming it.
    let (status, refused) = app
        .post_as(
            &admin.token,
            "/api/v1/banks",
            &json!({ "code": "X", "name": "", "bins": ["62"], "api_public_key": "不是公钥" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["code", "name", "bins", "api_public_key"],
        "{refused}"
    );
    let (status, taken) = app
        .post_as(
            &admin.token,
            "/api/v1/banks",
            &json!({ "code": "GXNX", "name": "广西农村信用社", "bins": ["6212261"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken["errors"][0]["code"], "BIN_TAKEN");
    assert!(
        taken["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ICBC")
    );

    // Suspend, then read it back (staff may read, only admins change).
    let (status, suspended) = app
        .client
        .put(app.url("/api/v1/banks/ICBC"))
        .bearer_auth(&admin.token)
        .json(&json!({
            "name": "中国工商银行柳州分行",
            "bins": ["621226", "622202", "955880"],
            "contact_name": "王经理",
            "contact_phone": "0772-2812345",
            "api_public_key": sscard::service::banks::example::TEST_PUBLIC_KEY_PEM,
            "status": "suspended",
        }))
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let suspended: Value = suspended.json().await.unwrap();
    assert_eq!(suspended["status"], "suspended");
    let (status, detail) = app.get_as(&acceptor.token, "/api/v1/banks/ICBC").await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["bank"]["status_label"], "暂停合作");
    assert_eq!(detail["bank"]["bins"].as_array().unwrap().len(), 3);
    assert_eq!(detail["exchange"]["awaiting_export"], 0);
    let (status, _) = app.post_as(&acceptor.token, "/api/v1/banks", &icbc).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, missing) = app.get_as(&acceptor.token, "/api/v1/banks/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "BANK_NOT_FOUND");

    // Every change is in the audit trail.
    let (_, trail) = app
        .get_as(&admin.token, "/api/v1/audit?object=bank:ICBC")
        .await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"bank.create") && actions.contains(&"bank.update"),
        "{trail}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_teller_activates_once_and_a_second_attempt_changes_nothing() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let id = app
        .bank_card(&BankCard::new("45022119850612723", "A10000001"))
        .await;
    let teller = app.teller_of("teller.icbc", "ICBC").await;
    let before = history_len(&app, "A10000001").await;

    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A10000001", &id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "activated");
    assert_eq!(body["card"]["financial_state"]["code"], "active");
    assert_eq!(body["card"]["financial_state"]["label"], "已激活");
    assert!(body["message"].as_str().unwrap().contains("已激活"));
    let card = app.card_view("A10000001").await;
    assert_eq!(card.financial_state.code, "active");
    assert_eq!(card.history.len(), before + 1);
    let event = card.history.last().unwrap();
    assert_eq!(event.event, "activate");
    assert_eq!(event.from_state.as_ref().unwrap().code, "not_activated");
    let reason = event.reason.as_deref().unwrap();
    assert!(
        reason.contains("持卡人本人到场") && reason.contains("身份证阅读器"),
        "{reason}"
    );
    assert!(event.actor.contains("teller.icbc"), "{}", event.actor);

    // Again (the visual check this time): already active, nothing changes.
    let audits = audit_count(&app).await;
    let mut again = activation("A10000001", &id);
    again["id_verified_by"] = json!("visual");
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &again)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "already_active");
    assert_eq!(body["code"], "FINANCIAL_ALREADY_ACTIVE");
    assert!(body["message"].as_str().unwrap().contains("此前已激活"));
    assert_eq!(
        history_len(&app, "A10000001").await,
        before + 1,
        "no second event"
    );
    assert_eq!(
        audit_count(&app).await,
        audits + 1,
        "the attempt is audited, refused"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_agent_and_every_other_refusal_has_its_code() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let teller = app.teller_of("teller.icbc", "ICBC").await;
    let holder = app
        .bank_card(&BankCard::new("45022119700101001", "A20000001"))
        .await;
    let before = history_len(&app, "A20000001").await;

    // An agent: refused whatever else is said, quoting the guide's FAQ.
    let mut by_agent = activation("A20000001", &holder);
    by_agent["agent"] = json!({ "name": "李华", "id_number": valid_id_number("45022119720202002"), "relation": "配偶" });
    let response = app
        .client
        .post(app.url("/api/v1/bank/activations"))
        .bearer_auth(&teller.token)
        .json(&by_agent)
        .send()
        .await
        .unwrap();
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AGENT_NOT_ALLOWED_FOR_BANK",
    )
    .await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("不能由他人代办"), "{detail}");
    assert!(
        detail.contains("人社部发〔2011〕83号")
            && detail.contains("持卡人持个人身份证原件到柜台办理金融功能的激活手续"),
        "the FAQ's reason: {detail}"
    );
    assert_eq!(body["errors"][0]["field"], "agent");
    // Even with a malformed card number, an agent hears the rule first.
    by_agent["card_number"] = json!("??");
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &by_agent)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("AGENT_NOT_ALLOWED_FOR_BANK")
        )
    );

    // The holder not present.
    let mut absent = activation("A20000001", &holder);
    absent["holder_present"] = json!(false);
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &absent)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("AGENT_NOT_ALLOWED_FOR_BANK")
        )
    );
    assert_eq!(body["errors"][0]["field"], "holder_present");

    // The ID card original not verified.
    let mut unverified = activation("A20000001", &holder);
    unverified["id_verified_by"] = Value::Null;
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &unverified)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ID_NOT_VERIFIED"))
    );

    // Someone else's ID number.
    let stranger = valid_id_number("45022119880808008");
    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A20000001", &stranger),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("CARD_HOLDER_MISMATCH")
        )
    );
    assert_eq!(body["errors"][0]["field"], "id_number");

    // Another bank's card: named for its holder, hidden from anyone else.
    let ccb_holder = app
        .bank_card(&BankCard {
            bank: "CCB",
            ..BankCard::new("45022119750505005", "A20000002")
        })
        .await;
    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A20000002", &ccb_holder),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CARD_OF_OTHER_BANK"))
    );
    assert!(body["detail"].as_str().unwrap().contains("CCB"));
    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A20000002", &stranger),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CARD_NOT_FOUND"))
    );
    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A29999999", &holder),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CARD_NOT_FOUND"))
    );

    // Lost, cancelled, not collected, expired, frozen cards.
    for (i, (social, financial, expiry, code)) in [
        (
            "temporarily_lost",
            "not_activated",
            "20360101",
            "CARD_REPORTED_LOST",
        ),
        (
            "formally_lost",
            "not_activated",
            "20360101",
            "CARD_REPORTED_LOST",
        ),
        ("cancelled", "not_activated", "20360101", "CARD_CANCELLED"),
        (
            "in_production",
            "not_activated",
            "20360101",
            "CARD_NOT_YET_COLLECTED",
        ),
        ("normal", "not_activated", "20260101", "CARD_EXPIRED"),
        ("normal", "frozen", "20360101", "FINANCIAL_FROZEN"),
    ]
    .into_iter()
    .enumerate()
    {
        let first17 = format!("4502211960011{i}00{i}");
        let number = format!("A3000000{i}");
        let id = app
            .bank_card(&BankCard {
                social,
                financial,
                expiry,
                ..BankCard::new(&first17, &number)
            })
            .await;
        let (status, body) = app
            .post_as(
                &teller.token,
                "/api/v1/bank/activations",
                &activation(&number, &id),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{social}: {body}");
        assert_eq!(body["code"], code, "{social}: {body}");
        assert_eq!(app.card_view(&number).await.financial_state.code, financial);
    }

    // Nothing of this changed the first card, and every refusal is audited.
    assert_eq!(
        app.card_view("A20000001").await.financial_state.code,
        "not_activated"
    );
    assert_eq!(history_len(&app, "A20000001").await, before);
    let services = app.db().services().await;
    let refusals: Vec<String> = sqlx::query_scalar(
        "SELECT detail_json FROM audit_log WHERE action = 'card.financial_activation' AND outcome = 'refused'",
    )
    .fetch_all(services.store().pool())
    .await
    .unwrap();
    assert!(refusals.len() >= 13, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .any(|d| d.contains("AGENT_NOT_ALLOWED_FOR_BANK") && d.contains("配偶"))
    );
    assert!(
        refusals.iter().all(|d| !d.contains(&holder)),
        "no full ID number in the audit trail"
    );

    // A teller of a bank the registry does not know activates nothing.
    let stray = app.teller_of("teller.gxnx", "GXNX").await;
    let (status, body) = app
        .post_as(
            &stray.token,
            "/api/v1/bank/activations",
            &activation("A20000001", &holder),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("BANK_NOT_REGISTERED"))
    );

    // A suspended bank's tellers activate nothing.
    let admin = app.staff("bank.admin", &["admin"]).await;
    let response = app
        .client
        .put(app.url("/api/v1/banks/ICBC"))
        .bearer_auth(&admin.token)
        .json(&json!({ "name": "中国工商银行柳州分行", "bins": ICBC_BINS, "status": "suspended" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = app
        .post_as(
            &teller.token,
            "/api/v1/bank/activations",
            &activation("A20000001", &holder),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("BANK_SUSPENDED"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_guardian_activates_for_a_holder_under_16_only() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let teller = app.teller_of("teller.icbc", "ICBC").await;
    let today = sscard::clock::today_in_china();
    let born = today - chrono::Duration::days(365 * 12);
    let minor_first17 = format!("450221{}001", born.format("%Y%m%d"));
    let minor = app
        .bank_card(&BankCard::new(&minor_first17, "A40000001"))
        .await;
    let adult = app
        .bank_card(&BankCard::new("45022119800101003", "A40000002"))
        .await;
    let guardian = json!({
        "name": "韦建国",
        "id_number": valid_id_number("45022119800303011"),
        "proof": "household_register",
    });
    let mut request = activation("A40000001", &minor);
    request["holder_present"] = json!(false);
    request["guardian"] = guardian.clone();
    let mut no_proof = request.clone();
    no_proof["guardian"]["proof"] = Value::Null;
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &no_proof)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("GUARDIANSHIP_NOT_VERIFIED")
        )
    );
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &request)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "activated");
    let reason = app
        .card_view("A40000001")
        .await
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap();
    assert!(reason.contains("法定监护人"), "{reason}");
    // A guardian of an adult is an agent.
    let mut for_adult = activation("A40000002", &adult);
    for_adult["guardian"] = guardian;
    let (status, body) = app
        .post_as(&teller.token, "/api/v1/bank/activations", &for_adult)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("AGENT_NOT_ALLOWED_FOR_BANK")
        )
    );
    assert!(body["detail"].as_str().unwrap().contains("已满16周岁"));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_attempts_activate_once() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let teller = app.teller_of("teller.icbc", "ICBC").await;
    let id = app
        .bank_card(&BankCard::new("45022119850612723", "A50000001"))
        .await;
    let before = history_len(&app, "A50000001").await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/api/v1/bank/activations");
        let token = teller.token.clone();
        let body = activation("A50000001", &id);
        attempts.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let mut outcomes = Vec::new();
    while let Some(answer) = attempts.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        outcomes.iter().filter(|o| *o == "activated").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "already_active").count(),
        19
    );
    assert_eq!(history_len(&app, "A50000001").await, before + 1);
    app.stop().await;
}

#[tokio::test]
async fn an_activation_case_or_an_approval_never_activates_the_bank_account() {
    let app = TestApp::spawn().await;
    let acceptor = app.staff("case.acceptor", &["acceptor"]).await;
    let processor = app.staff("case.processor", &["processor"]).await;
    let (id, number) = app.walk_in_person_with_account(7).await;
    let case = app
        .submit_as(&acceptor.token, &window_form(&id, "黄明", &number))
        .await;
    let no = case["application_no"].as_str().unwrap().to_owned();
    app.act(&acceptor.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    app.act(
        &processor.token,
        &no,
        "approve",
        &Value::Null,
        StatusCode::OK,
    )
    .await;
    let card = app.card_view(&number).await;
    assert_eq!(
        card.social_state.code, "normal",
        "the case activated the social application"
    );
    assert_eq!(
        card.financial_state.code, "not_activated",
        "and never the bank account"
    );
    assert!(card.history.iter().all(|e| e.application
        != sscard_domain::registry::Application::Financial
        || e.event == "register"));
    app.stop().await;
}

impl TestApp {
    /// A walk-in person numbered `n` with a collected ICBC card holding an
    /// account not activated yet.
    async fn walk_in_person_with_account(&self, n: u32) -> (String, String) {
        let number = card_number(n);
        let first17 = common::cases::first17_for(n);
        let id = self
            .bank_card(&BankCard {
                name: "黄明",
                account: Some(account("621226", n)),
                ..BankCard::new(&first17, &number)
            })
            .await;
        (id, number)
    }
}

// ---------------------------------------------------------------------------
// The bank systems' signed interface
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_request_succeeds_and_its_answer_is_signed() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let id = app
        .bank_card(&BankCard::new("45022119850612723", "A12345678"))
        .await;
    let key = test_key();

    // A signed look-up.
    let signing = Signing::fresh("ICBC", &key);
    let response = app
        .bank_call(Method::GET, "/api/v1/bank/cards/A12345678", None, &signing)
        .await;
    let (status, card) = verified_answer(&app, response, &signing.nonce).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["financial_state"]["code"], "not_activated");
    assert_eq!(card["holder"]["id_number_masked"], "450221********723X");

    // A signed activation, reported by the bank's own teller number.
    let body = json!({
        "card_number": "A12345678",
        "id_number": id,
        "holder_present": true,
        "id_verified_by": "card_reader",
        "teller": "0421",
    })
    .to_string();
    let signing = Signing::fresh("ICBC", &key);
    let response = app
        .bank_call(
            Method::POST,
            "/api/v1/bank/activations",
            Some(&body),
            &signing,
        )
        .await;
    let (status, answer) = verified_answer(&app, response, &signing.nonce).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "activated");
    let event = app
        .card_view("A12345678")
        .await
        .history
        .last()
        .cloned()
        .unwrap();
    assert_eq!(event.actor, "bank:ICBC");
    assert!(event.reason.unwrap().contains("柜员 0421"));

    // A DER signature (as OpenSSL writes it) is accepted too.
    let signing = Signing::fresh("ICBC", &key);
    let canonical = sscard::service::banks::canonical_request(
        "GET",
        "/api/v1/bank/cards/A12345678",
        "ICBC",
        &signing.timestamp.to_string(),
        &signing.nonce,
        b"",
    );
    let der = sscard_crypto::sm2_signature_to_der(&key.sign(canonical.as_bytes())).unwrap();
    let der_signing = Signing {
        signature: Some(hex::encode(der)),
        ..signing
    };
    let response = app
        .bank_call(
            Method::GET,
            "/api/v1/bank/cards/A12345678",
            None,
            &der_signing,
        )
        .await;
    let (status, card) = verified_answer(&app, response, &der_signing.nonce).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["financial_state"]["code"], "active");

    // Another bank's card answers as missing.
    app.bank_card(&BankCard {
        bank: "CCB",
        ..BankCard::new("45022119750505005", "A20000002")
    })
    .await;
    let signing = Signing::fresh("ICBC", &key);
    let response = app
        .bank_call(Method::GET, "/api/v1/bank/cards/A20000002", None, &signing)
        .await;
    let (status, problem) = verified_answer(&app, response, &signing.nonce).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CARD_NOT_FOUND"))
    );
    assert!(
        problem["request_id"].is_string(),
        "the signed problem carries the request id"
    );
    app.stop().await;
}

#[tokio::test]
async fn tampered_wrong_key_stale_replayed_and_unsigned_requests_are_refused() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let id = app
        .bank_card(&BankCard::new("45022119850612723", "A12345678"))
        .await;
    let key = test_key();
    let path = "/api/v1/bank/activations";
    let body = activation("A12345678", &id).to_string();

    async fn refused(
        app: &TestApp,
        response: reqwest::Response,
        nonce: &str,
        status: StatusCode,
        code: &str,
    ) {
        let (got, problem) = verified_answer(app, response, nonce).await;
        assert_eq!(got, status, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert!(common::has_chinese(problem["detail"].as_str().unwrap()));
    }

    // A tampered body: signed one body, sent another.
    let tampered = body.replace("card_reader", "visual");
    let signing = Signing {
        signed_body: Some(&body),
        ..Signing::fresh("ICBC", &key)
    };
    let response = app
        .bank_call(Method::POST, path, Some(&tampered), &signing)
        .await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("SSCARD-SM2 realm=\"sscard-bank\"")
    );
    refused(
        &app,
        response,
        &signing.nonce,
        StatusCode::UNAUTHORIZED,
        "BANK_SIGNATURE_INVALID",
    )
    .await;

    // A wrong key.
    let other = Sm2SigningKey::generate();
    let signing = Signing::fresh("ICBC", &other);
    let response = app
        .bank_call(Method::POST, path, Some(&body), &signing)
        .await;
    refused(
        &app,
        response,
        &signing.nonce,
        StatusCode::UNAUTHORIZED,
        "BANK_SIGNATURE_INVALID",
    )
    .await;

    // The right key for another path (a signature is bound to its request).
    let signing = Signing::fresh("ICBC", &key);
    let canonical = sscard::service::banks::canonical_request(
        "GET",
        "/api/v1/bank/cards/A12345679",
        "ICBC",
        &signing.timestamp.to_string(),
        &signing.nonce,
        b"",
    );
    let moved = Signing {
        signature: Some(hex::encode(key.sign(canonical.as_bytes()))),
        ..signing
    };
    let response = app
        .bank_call(Method::GET, "/api/v1/bank/cards/A12345678", None, &moved)
        .await;
    refused(
        &app,
        response,
        &moved.nonce,
        StatusCode::UNAUTHORIZED,
        "BANK_SIGNATURE_INVALID",
    )
    .await;

    // Stale and future timestamps beyond five minutes.
    for skew in [-301, 301] {
        let signing = Signing {
            timestamp: chrono::Utc::now().timestamp() + skew,
            ..Signing::fresh("ICBC", &key)
        };
        let response = app
            .bank_call(Method::POST, path, Some(&body), &signing)
            .await;
        refused(
            &app,
            response,
            &signing.nonce,
            StatusCode::UNAUTHORIZED,
            "BANK_REQUEST_STALE",
        )
        .await;
    }

    // A replay: the same signed request twice; the first one is honoured.
    let signing = Signing::fresh("ICBC", &key);
    let first = app
        .bank_call(Method::POST, path, Some(&body), &signing)
        .await;
    let (status, answer) = verified_answer(&app, first, &signing.nonce).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let replay = app
        .bank_call(Method::POST, path, Some(&body), &signing)
        .await;
    refused(
        &app,
        replay,
        &signing.nonce,
        StatusCode::UNAUTHORIZED,
        "BANK_REQUEST_REPLAYED",
    )
    .await;

    // Unsigned: no headers at all, or some of them.
    let response = app
        .client
        .post(app.url(path))
        .json(&activation("A12345678", &id))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN").await;
    let response = app
        .client
        .post(app.url(path))
        .header("X-Bank-Code", "ICBC")
        .json(&activation("A12345678", &id))
        .send()
        .await
        .unwrap();
    refused(
        &app,
        response,
        "",
        StatusCode::UNAUTHORIZED,
        "BANK_SIGNATURE_MISSING",
    )
    .await;

    // A malformed timestamp or nonce, an unknown bank, a bank without a key.
    let signing = Signing {
        nonce: "short".to_owned(),
        ..Signing::fresh("ICBC", &key)
    };
    let response = app
        .bank_call(Method::POST, path, Some(&body), &signing)
        .await;
    refused(
        &app,
        response,
        "",
        StatusCode::UNAUTHORIZED,
        "BANK_NONCE_INVALID",
    )
    .await;
    for (bank, code) in [("ABC", "BANK_UNKNOWN"), ("CCB", "BANK_KEY_NOT_REGISTERED")] {
        let signing = Signing::fresh(bank, &key);
        let response = app
            .bank_call(Method::POST, path, Some(&body), &signing)
            .await;
        refused(
            &app,
            response,
            &signing.nonce,
            StatusCode::UNAUTHORIZED,
            code,
        )
        .await;
    }

    // The metrics count the refusals by code.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("sscard_bank_requests_total{result=\"BANK_REQUEST_REPLAYED\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sscard_bank_requests_total{result=\"BANK_SIGNATURE_INVALID\"} 3"));
    app.stop().await;
}

#[tokio::test]
async fn a_replay_to_another_node_is_refused_and_old_nonces_are_pruned() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    app.bank_card(&BankCard::new("45022119850612723", "A12345678"))
        .await;
    let key = test_key();
    let signing = Signing::fresh("ICBC", &key);
    let path = "/api/v1/bank/cards/A12345678";
    let response = app.bank_call(Method::GET, path, None, &signing).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A nonce from long ago, left behind.
    let services = app.db().services().await;
    sqlx::query("INSERT INTO bank_nonces (bank_code, nonce, expires_at) VALUES ('ICBC', 'old-nonce-0000000000', '2020-01-01T00:00:00.000000Z')")
        .execute(services.store().pool())
        .await
        .unwrap();

    // A second server on the same database: it refuses the replay, and
    // its first signed request prunes what can no longer be replayed.
    let db = app.stop().await;
    let second = TestApp::spawn_on(db).await;
    let replay = second.bank_call(Method::GET, path, None, &signing).await;
    let (status, problem) = verified_answer(&second, replay, &signing.nonce).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("BANK_REQUEST_REPLAYED"))
    );
    let services = second.db().services().await;
    let old: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM bank_nonces WHERE nonce = 'old-nonce-0000000000'")
            .fetch_one(services.store().pool())
            .await
            .unwrap();
    assert_eq!(old, 0, "pruned");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bank_nonces")
        .fetch_one(services.store().pool())
        .await
        .unwrap();
    assert_eq!(kept, 1, "the fresh nonce stays until its time is up");
    second.stop().await;
}

#[tokio::test]
async fn the_worked_example_of_the_documentation_holds() {
    use sscard::service::banks::example;
    let worked = example::worked();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/bank-interface.md"
    ))
    .expect("docs/bank-interface.md");
    for value in [
        example::TEST_PRIVATE_KEY_PEM.trim(),
        example::TEST_PUBLIC_KEY_PEM.trim(),
        example::BODY,
        example::NONCE,
        example::TIMESTAMP,
        worked.body_sm3.as_str(),
        worked.canonical_sm3.as_str(),
        worked.signature.as_str(),
    ] {
        assert!(doc.contains(value), "docs/bank-interface.md shows {value}");
    }
    assert!(
        doc.contains(&worked.canonical),
        "the canonical request, verbatim"
    );
    // The example's signature verifies under the published public key.
    let public = sscard_crypto::sm2_public_key_parse(example::TEST_PUBLIC_KEY_PEM).unwrap();
    assert!(public.verify(
        worked.canonical.as_bytes(),
        &hex::decode(&worked.signature).unwrap()
    ));
    let _ = ICBC_BINS;
}

// ---------------------------------------------------------------------------
// The pages
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_counter_and_registry_pages_answer_each_role() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let id = app
        .bank_card(&BankCard::new("45022119850612723", "A70000001"))
        .await;
    let admin = page_client(&app.staff("pages.admin", &["admin"]).await.token);
    let acceptor = page_client(&app.staff("pages.acceptor", &["acceptor"]).await.token);
    let teller = page_client(&app.teller_of("pages.teller", "ICBC").await.token);

    // Who may open which page.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = anonymous.get(app.url("/bank")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/signin");
    let (status, counter) = page(&teller, &app, "/bank").await;
    assert_eq!(status, StatusCode::OK);
    assert!(counter.contains("激活金融功能") && counter.contains("ICBC"));
    let (status, workbench) = page(&teller, &app, "/workbench").await;
    assert_eq!(status, StatusCode::OK);
    assert!(workbench.contains("href=\"/bank\""), "{workbench}");
    for (client, path) in [
        (&admin, "/bank"),
        (&acceptor, "/bank"),
        (&teller, "/admin/banks"),
        (&acceptor, "/admin/banks/ICBC"),
    ] {
        let (status, body) = page(client, &app, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("此功能仅限"), "{path}: {body}");
    }

    // The teller activates on the page.
    let response = post_form(
        &teller,
        &app,
        "/bank",
        &[
            ("card_number", "A70000001"),
            ("id_number", &id),
            ("presenter", "holder"),
            ("holder_present", "yes"),
            ("id_verified_by", "card_reader"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("激活成功") && body.contains("data-outcome=\"activated\""),
        "{body}"
    );
    assert!(!body.contains(&id), "the ID number is not echoed");
    // Without the holder present: refused, the typed card number kept.
    let response = post_form(
        &teller,
        &app,
        "/bank",
        &[
            ("card_number", "A70000001"),
            ("id_number", &id),
            ("presenter", "holder"),
            ("id_verified_by", "visual"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("不能由他人代办") && body.contains("value=\"A70000001\""),
        "{body}"
    );

    // The administrator registers a bank on the page, then suspends it.
    let (status, list) = page(&admin, &app, "/admin/banks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("id=\"bank-ICBC\"") && list.contains("621226、622202"),
        "{list}"
    );
    let response = post_form(
        &admin,
        &app,
        "/admin/banks",
        &[
            ("code", "ABC"),
            ("name", "中国农业银行柳州分行"),
            ("bins", "622848, 622845"),
            ("contact_name", "韦经理"),
            ("contact_phone", "0772-7212302"),
            ("api_public_key", ""),
            ("status", "active"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/admin/banks/ABC?notice=created"
    );
    let (status, detail) = page(&admin, &app, "/admin/banks/ABC?notice=created").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        detail.contains("已登记该合作银行") && detail.contains("622845, 622848"),
        "{detail}"
    );
    let response = post_form(
        &admin,
        &app,
        "/admin/banks",
        &[
            ("code", "GXNX"),
            ("name", "广西农信"),
            ("bins", "6228481"),
            ("status", "active"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("data-code=\"BIN_TAKEN\"") && body.contains("value=\"GXNX\""),
        "{body}"
    );
    let response = post_form(
        &admin,
        &app,
        "/admin/banks/ABC",
        &[
            ("name", "中国农业银行柳州分行"),
            ("bins", "622848, 622845"),
            ("status", "suspended"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, detail) = page(&admin, &app, "/admin/banks/ABC?notice=updated").await;
    assert!(
        detail.contains("已保存修改") && detail.contains("value=\"suspended\" selected"),
        "{detail}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_configured_signing_key_signs_the_answers_and_earlier_keys_stay_listed() {
    let db = common::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("bank-signing.pem");
    let key = Sm2SigningKey::generate();
    std::fs::write(&pem, key.to_pkcs8_pem().as_str()).unwrap();
    // First the generated key (a server without the setting) …
    let app = TestApp::spawn_on(db).await;
    let (generated, _) = app.server_key().await;
    let db = app.stop().await;
    // … then the configured one.
    let services = db
        .services()
        .await
        .with_bank_settings(sscard::service::banks::BankSettings {
            signing_key_file: Some(pem.clone()),
        });
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services).await;
    app.register_test_banks().await;
    app.bank_card(&BankCard::new("45022119850612723", "A12345678"))
        .await;
    let (current, public) = app.server_key().await;
    assert_eq!(current, key.public_key().key_id());
    assert_eq!(public, key.public_key());
    let (_, keys) = app.get_json("/api/v1/bank/server-key").await;
    assert_eq!(keys["current"]["source"], "file");
    assert_eq!(keys["earlier"][0]["key_id"], generated.as_str());
    let signer = test_key();
    let signing = Signing::fresh("ICBC", &signer);
    let response = app
        .bank_call(Method::GET, "/api/v1/bank/cards/A12345678", None, &signing)
        .await;
    let (status, _) = verified_answer(&app, response, &signing.nonce).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_account_set_on_a_card_must_carry_a_bin_of_the_cards_bank() {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let services = app.db().services().await;
    let holder = valid_id_number("45022119900909009");
    app.register_person(&holder, "蓝海", None).await;
    let card = |number: &str, bank: &str, account: String| {
        sscard::service::registry::CardInput {
            card_number: number.to_owned(),
            card_identification_code: format!(
                "450200D156000005{:0>16}",
                number.trim_start_matches('A')
            ),
            issuing_area_code: "450200".to_owned(),
            spec_version: "3.00".to_owned(),
            issue_date: "20260101".to_owned(),
            expiry_date: "20360101".to_owned(),
            holder_id_number: holder.clone(),
            bank_code: bank.to_owned(),
            bank_account: Some(account),
            social_state: Some("collected".to_owned()),
            financial_state: None,
        }
        .parse()
        .unwrap()
    };
    // A CCB account on an ICBC card: refused, naming the bank's BINs.
    let error = services
        .register_card(
            &card("A80000001", "ICBC", account("621700", 1)),
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap_err();
    let sscard::service::ServiceError::Invalid { errors, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(errors[0].field, "bank_account");
    assert_eq!(errors[0].code, "ACCOUNT_BIN_MISMATCH");
    assert!(
        errors[0].message.contains("621226、622202"),
        "{}",
        errors[0].message
    );
    // The bank's own BIN: registered.
    services
        .register_card(
            &card("A80000001", "ICBC", account("622202", 1)),
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap();
    // A bank not in the registry cannot be checked and is let through.
    let other = valid_id_number("45022119900909017");
    app.register_person(&other, "蓝天", None).await;
    let mut unknown = card("A80000002", "GXNX", account("623058", 2));
    unknown.holder = sscard_domain::identifiers::IdNumber::parse(&other).unwrap();
    services
        .register_card(&unknown, &sscard::service::Actor::system())
        .await
        .unwrap();
    app.stop().await;
}
