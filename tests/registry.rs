//! The card registry end to end: persons and cards registered through the
//! services, their two states moved through the domain's state machines,
//! looked up over HTTP (API and the staff page) — on SQLite, or on
//! PostgreSQL when `SSCARD_TEST_POSTGRES_URL` is set.

mod common;

use common::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use sscard::service::accounts::Client;
use sscard::service::registry::{
    CardInput, CardRecord, PersonInput, PersonRecord, UpsertOutcome, Viewer,
};
use sscard::service::{Actor, ServiceError, Services};
use sscard_domain::identifiers::{CardNumber, IdNumber, id_check_char, luhn_check_digit};
use sscard_domain::registry::{FinancialEvent, SocialSecurityEvent};

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

/// A valid ID number from its first 17 digits.
fn id_number(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17).expect("17 digits"))
}

/// A valid (Luhn) bank card number from its payload.
fn bank_account(payload: &str) -> String {
    format!("{payload}{}", luhn_check_digit(payload).expect("digits"))
}

/// The bank account of test card `n`, and its masked form.
fn account_for(n: u32) -> String {
    bank_account(&format!("62170000100{n:07}"))
}

fn masked_account(n: u32) -> String {
    let account = account_for(n);
    format!("6217 **** **** {}", &account[account.len() - 4..])
}

fn today() -> chrono::NaiveDate {
    sscard::clock::today_in_china()
}

fn person(id: &str, name: &str, mobile: Option<&str>) -> PersonRecord {
    PersonInput {
        id_number: id.to_owned(),
        name: name.to_owned(),
        mobile: mobile.map(str::to_owned),
        address: Some("广西柳州市柳江区柳堡路318号5栋2单元".to_owned()),
        employer_uscc: Some(common::valid_uscc()),
        enrolment_region: "450206".to_owned(),
        enrolment_status: "参保缴费".to_owned(),
        enrolment_since: "2015-07-01".to_owned(),
    }
    .parse(today())
    .expect("a valid person")
}

/// A card with a fresh identification code (`n` makes it unique).
fn card_input(number: &str, holder: &str, bank: &str, n: u32) -> CardInput {
    CardInput {
        card_number: number.to_owned(),
        card_identification_code: format!("450200D156000005{n:016X}"),
        issuing_area_code: "450200".to_owned(),
        spec_version: "3.00".to_owned(),
        issue_date: "20240315".to_owned(),
        expiry_date: "20340314".to_owned(),
        holder_id_number: holder.to_owned(),
        bank_code: bank.to_owned(),
        bank_account: Some(account_for(n)),
        social_state: None,
        financial_state: None,
    }
}

fn card(number: &str, holder: &str, bank: &str, n: u32) -> CardRecord {
    card_input(number, holder, bank, n)
        .parse()
        .expect("a valid card")
}

fn number(card_number: &str) -> CardNumber {
    CardNumber::parse(card_number).unwrap()
}

/// The actor of a signed-in account, as the HTTP layer would make it.
async fn actor_of(services: &Services, token: &str) -> Actor {
    services
        .authenticate(token)
        .await
        .expect("a live session")
        .actor(&Client::local())
}

async fn social(
    services: &Services,
    card_number: &str,
    event: SocialSecurityEvent,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<sscard::service::registry::CardView, ServiceError> {
    services
        .transition_social(&number(card_number), event, reason, &Viewer::Staff, actor)
        .await
}

async fn financial(
    services: &Services,
    card_number: &str,
    event: FinancialEvent,
    actor: &Actor,
) -> Result<sscard::service::registry::CardView, ServiceError> {
    services
        .transition_financial(&number(card_number), event, None, &Viewer::Staff, actor)
        .await
}

/// Takes a card from 制卡中 to 正常 (social) — 领卡 and 启用.
async fn hand_out_and_activate(services: &Services, card_number: &str, actor: &Actor) {
    for event in [
        SocialSecurityEvent::MarkProduced,
        SocialSecurityEvent::Collect,
        SocialSecurityEvent::Activate,
    ] {
        social(services, card_number, event, None, actor)
            .await
            .expect("allowed");
    }
}

fn conflict_code(error: &ServiceError) -> (&'static str, String) {
    match error {
        ServiceError::Conflict { code, detail } => (code, detail.clone()),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn get_card(app: &TestApp, token: &str, card_number: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/cards/{card_number}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn count(services: &Services, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(services.store().pool())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_card_shows_both_states_and_its_history_masked() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let clerk = app.staff("window.clerk", &["acceptor"]).await;
    let actor = actor_of(&services, &clerk.token).await;
    let id = id_number("45022119850612723");
    services
        .register_person(&person(&id, "张𠈌", Some("13877212345")), &actor)
        .await
        .unwrap();
    let record = card("A12345678", &id, "ICBC", 0);
    let registered = services.register_card(&record, &actor).await.unwrap();
    assert_eq!(registered.social_state.code, "in_production");
    assert_eq!(registered.financial_state.label, "未激活");

    hand_out_and_activate(&services, "A12345678", &actor).await;
    social(
        &services,
        "A12345678",
        SocialSecurityEvent::ReportLostTemporarily,
        Some("持卡人来电称卡片遗失"),
        &actor,
    )
    .await
    .unwrap();
    social(
        &services,
        "A12345678",
        SocialSecurityEvent::CancelTemporaryLoss,
        Some("卡片已找回"),
        &actor,
    )
    .await
    .unwrap();
    financial(&services, "A12345678", FinancialEvent::Activate, &actor)
        .await
        .unwrap();

    let response = get_card(&app, &clerk.token, "a12345678").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["card_number_masked"], "A1234****");
    assert_eq!(
        body["social_state"],
        json!({"code": "normal", "label": "正常"})
    );
    assert_eq!(
        body["financial_state"],
        json!({"code": "active", "label": "已激活"})
    );
    assert_eq!(body["holder"]["name"], "张𠈌");
    assert_eq!(body["holder"]["id_number_masked"], "450221********723X");
    assert_eq!(body["bank_account_masked"], masked_account(0));
    assert_eq!(body["expired"], false);
    let history = body["history"].as_array().unwrap();
    let steps: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| {
            (
                e["application"].as_str().unwrap(),
                e["event"].as_str().unwrap(),
                e["to_state"]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("social", "register", "in_production"),
            ("financial", "register", "not_activated"),
            ("social", "mark_produced", "awaiting_collection"),
            ("social", "collect", "collected"),
            ("social", "activate", "normal"),
            ("social", "report_lost_temporarily", "temporarily_lost"),
            ("social", "cancel_temporary_loss", "normal"),
            ("financial", "activate", "active"),
        ]
    );
    let seqs: Vec<i64> = history.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    assert_eq!(history[5]["reason"], "持卡人来电称卡片遗失");
    assert_eq!(history[5]["event_label"], "临时挂失");
    assert_eq!(history[5]["from_state"]["label"], "正常");
    assert_eq!(history[5]["actor"], "window.clerk");
    // No full identifier in the answer.
    for secret in ["A12345678", id.as_str(), "13877212345", &account_for(0)] {
        assert!(!text.contains(secret), "the answer leaks a full identifier");
    }
    // Every change was audited, and the chains are intact.
    assert!(services.verify_audit().await.unwrap().is_intact());
    assert_eq!(
        count(
            &services,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'card.%' AND outcome = 'succeeded'"
        )
        .await,
        7
    );
}

#[tokio::test]
async fn forbidden_transitions_name_the_current_state() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let id = id_number("45020619900101001");
    services
        .register_person(&person(&id, "李四", None), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("B00000001", &id, "ICBC", 1), &actor)
        .await
        .unwrap();

    // 制卡中: cannot be activated, neither application.
    let error = social(
        &services,
        "B00000001",
        SocialSecurityEvent::Activate,
        None,
        &actor,
    )
    .await
    .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "CARD_NOT_YET_COLLECTED");
    assert!(
        detail.contains("“制卡中”") && detail.contains("“启用社保应用”"),
        "{detail}"
    );
    let error = financial(&services, "B00000001", FinancialEvent::Activate, &actor)
        .await
        .unwrap_err();
    assert_eq!(conflict_code(&error).0, "CARD_NOT_YET_COLLECTED");
    // 领卡 before 制卡完成 is not a thing.
    let error = social(
        &services,
        "B00000001",
        SocialSecurityEvent::Collect,
        None,
        &actor,
    )
    .await
    .unwrap_err();
    assert_eq!(conflict_code(&error).0, "TRANSITION_NOT_ALLOWED");

    hand_out_and_activate(&services, "B00000001", &actor).await;
    let error = social(
        &services,
        "B00000001",
        SocialSecurityEvent::Activate,
        None,
        &actor,
    )
    .await
    .unwrap_err();
    assert_eq!(conflict_code(&error).0, "CARD_ALREADY_ACTIVE");

    social(
        &services,
        "B00000001",
        SocialSecurityEvent::ReportLostTemporarily,
        None,
        &actor,
    )
    .await
    .unwrap();
    let error = financial(&services, "B00000001", FinancialEvent::Activate, &actor)
        .await
        .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "CARD_REPORTED_LOST");
    assert!(detail.contains("社保应用当前状态为“临时挂失”"), "{detail}");
    assert!(detail.contains("“激活金融账户”"), "{detail}");

    social(
        &services,
        "B00000001",
        SocialSecurityEvent::CancelTemporaryLoss,
        None,
        &actor,
    )
    .await
    .unwrap();
    financial(&services, "B00000001", FinancialEvent::Activate, &actor)
        .await
        .unwrap();
    let error = financial(&services, "B00000001", FinancialEvent::Activate, &actor)
        .await
        .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "FINANCIAL_ALREADY_ACTIVE");
    assert!(detail.contains("金融应用当前状态为“已激活”"), "{detail}");

    social(
        &services,
        "B00000001",
        SocialSecurityEvent::ReportLostFormally,
        None,
        &actor,
    )
    .await
    .unwrap();
    let error = social(
        &services,
        "B00000001",
        SocialSecurityEvent::CancelTemporaryLoss,
        None,
        &actor,
    )
    .await
    .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "CARD_REPORTED_LOST");
    assert!(
        detail.contains("“正式挂失”") && detail.contains("“解挂”"),
        "{detail}"
    );
    social(
        &services,
        "B00000001",
        SocialSecurityEvent::Cancel,
        None,
        &actor,
    )
    .await
    .unwrap();
    for event in SocialSecurityEvent::ALL {
        let error = social(&services, "B00000001", event, None, &actor)
            .await
            .unwrap_err();
        let (code, detail) = conflict_code(&error);
        assert_eq!(code, "CARD_CANCELLED");
        assert!(detail.contains("“注销”"), "{detail}");
    }

    // An expired card cannot be activated (collected long ago, never activated).
    let old = id_number("45020219500101002");
    services
        .register_person(&person(&old, "王五", None), &actor)
        .await
        .unwrap();
    let mut expired = card_input("C00000001", &old, "ICBC", 2);
    expired.issue_date = "2010-01-01".to_owned();
    expired.expiry_date = "2020-01-01".to_owned();
    expired.social_state = Some("已领卡未启用".to_owned());
    services
        .register_card(&expired.parse().unwrap(), &actor)
        .await
        .unwrap();
    let error = social(
        &services,
        "C00000001",
        SocialSecurityEvent::Activate,
        None,
        &actor,
    )
    .await
    .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "CARD_EXPIRED");
    assert!(detail.contains("“已领卡未启用”"), "{detail}");
    let error = financial(&services, "C00000001", FinancialEvent::Activate, &actor)
        .await
        .unwrap_err();
    assert_eq!(conflict_code(&error).0, "CARD_EXPIRED");
    let view = services
        .card_by_number(&number("C00000001"), &Viewer::Staff)
        .await
        .unwrap();
    assert!(view.expired);
    assert_eq!(view.social_state.code, "collected");

    // A refusal changes nothing, and is audited as refused.
    let history = services
        .card_history(&number("B00000001"), &Viewer::Staff)
        .await
        .unwrap();
    assert_eq!(history.last().unwrap().to_state.code, "cancelled");
    assert!(
        count(
            &services,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'card.%' AND outcome = 'refused'"
        )
        .await
            >= 12
    );
    assert!(services.verify_audit().await.unwrap().is_intact());

    // A too long reason is refused before anything happens.
    let error = social(
        &services,
        "C00000001",
        SocialSecurityEvent::ReportLostFormally,
        Some(&"很".repeat(201)),
        &actor,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "VALIDATION_FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_holds_at_most_one_card_that_is_not_cancelled() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let id = id_number("45022119880808123");
    services
        .register_person(&person(&id, "赵六", None), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("D00000001", &id, "ICBC", 10), &actor)
        .await
        .unwrap();
    let error = services
        .register_card(&card("D00000002", &id, "ICBC", 11), &actor)
        .await
        .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "PERSON_HAS_ACTIVE_CARD");
    assert!(
        detail.contains("D0000****") && detail.contains("“制卡中”"),
        "{detail}"
    );

    // A formally lost card still counts until it is cancelled.
    hand_out_and_activate(&services, "D00000001", &actor).await;
    social(
        &services,
        "D00000001",
        SocialSecurityEvent::ReportLostFormally,
        None,
        &actor,
    )
    .await
    .unwrap();
    let error = services
        .register_card(&card("D00000002", &id, "ICBC", 11), &actor)
        .await
        .unwrap_err();
    assert_eq!(conflict_code(&error).0, "PERSON_HAS_ACTIVE_CARD");
    social(
        &services,
        "D00000001",
        SocialSecurityEvent::Cancel,
        None,
        &actor,
    )
    .await
    .unwrap();
    services
        .register_card(&card("D00000002", &id, "ICBC", 11), &actor)
        .await
        .unwrap();
    // An old, cancelled card may always be recorded.
    let mut old = card_input("D00000003", &id, "ICBC", 12);
    old.social_state = Some("cancelled".to_owned());
    services
        .register_card(&old.parse().unwrap(), &actor)
        .await
        .unwrap();
    let view = services
        .person_by_id_number(&IdNumber::parse(&id).unwrap())
        .await
        .unwrap();
    let states: Vec<&str> = view
        .cards
        .iter()
        .map(|c| c.social_state.code.as_str())
        .collect();
    assert_eq!(states, ["cancelled", "in_production", "cancelled"]);

    // Two concurrent registrations for one person: exactly one wins.
    let other = id_number("45022119920202456");
    services
        .register_person(&person(&other, "钱七", None), &actor)
        .await
        .unwrap();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for n in 0..8u32 {
        let services = services.clone();
        let actor = actor.clone();
        let start = start.clone();
        let record = card(&format!("E0000000{n}"), &other, "ICBC", 100 + n);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            services.register_card(&record, &actor).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(error) => assert_eq!(error.code(), "PERSON_HAS_ACTIVE_CARD", "{error:?}"),
        }
    }
    assert_eq!(won, 1);
    let view = services
        .person_by_id_number(&IdNumber::parse(&other).unwrap())
        .await
        .unwrap();
    assert_eq!(view.cards.len(), 1);
}

#[tokio::test]
async fn bank_tellers_see_only_their_own_banks_cards() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let teller = app.staff("icbc.teller", &["bank_teller"]).await; // bank ICBC
    let clerk = app.staff("window.clerk", &["processor"]).await;
    let employer = app.staff("hr.officer", &["employer"]).await;
    let first = id_number("45020519700505111");
    let second = id_number("45020519700505222");
    for (id, name) in [(&first, "孙一"), (&second, "周二")] {
        services
            .register_person(&person(id, name, None), &actor)
            .await
            .unwrap();
    }
    services
        .register_card(&card("F00000001", &first, "icbc", 20), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("F00000002", &second, "ABC", 21), &actor)
        .await
        .unwrap();

    let own = get_card(&app, &teller.token, "F00000001").await;
    assert_eq!(own.status(), StatusCode::OK);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["bank_code"], "ICBC");
    // Another bank's card is answered like a missing one.
    let other = get_card(&app, &teller.token, "F00000002").await;
    let body = assert_problem(other, StatusCode::NOT_FOUND, "CARD_NOT_FOUND").await;
    assert!(body["detail"].as_str().unwrap().contains("本行"));
    let missing = get_card(&app, &teller.token, "Z99999999").await;
    assert_problem(missing, StatusCode::NOT_FOUND, "CARD_NOT_FOUND").await;
    // Staff see both.
    for card_number in ["F00000001", "F00000002"] {
        let response = get_card(&app, &clerk.token, card_number).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A teller cannot move another bank's card either.
    let error = services
        .transition_financial(
            &number("F00000002"),
            FinancialEvent::Activate,
            None,
            &Viewer::Bank("ICBC".to_owned()),
            &actor,
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "CARD_NOT_FOUND");
    // Person look-ups are for bureau staff only; employers see no cards.
    let response = app
        .client
        .post(app.url("/api/v1/persons/lookup"))
        .bearer_auth(&teller.token)
        .json(&json!({ "id_number": first }))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;
    let response = get_card(&app, &employer.token, "F00000001").await;
    assert_problem(response, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;
    // A malformed card number is a validation problem, not a 404.
    let response = get_card(&app, &clerk.token, "F0000").await;
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CARD_NUMBER_FORMAT",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "card_number");
}

#[tokio::test]
async fn persons_are_found_by_id_number_in_any_input_form() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let clerk = app.staff("window.clerk", &["feedback"]).await;
    let id = id_number("45022119850612723"); // ends in X
    services
        .register_person(&person(&id, "䶮", Some("13877212345")), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("G00000001", &id, "ICBC", 30), &actor)
        .await
        .unwrap();

    let full_width: String = id
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            'X' => 'ｘ',
            other => other,
        })
        .collect();
    for input in [
        id.clone(),
        id.to_lowercase(),
        format!("\u{3000}{full_width} "),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/persons/lookup"))
            .bearer_auth(&clerk.token)
            .json(&json!({ "id_number": input }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(!text.contains(&id) && !text.contains("13877212345"));
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["name"], "䶮");
        assert_eq!(body["id_number_masked"], "450221********723X");
        assert_eq!(body["sex"], "male");
        assert_eq!(body["sex_label"], "男");
        assert_eq!(body["birth_date"], "1985-06-12");
        assert_eq!(body["mobile_masked"], "138****2345");
        assert_eq!(body["enrolment"]["status_label"], "参保缴费");
        assert_eq!(body["enrolment"]["enrolled_in_liuzhou"], true);
        assert_eq!(body["cards"][0]["card_number_masked"], "G0000****");
    }

    let mut wrong = id.clone();
    wrong.replace_range(17.., "1");
    let response = app
        .client
        .post(app.url("/api/v1/persons/lookup"))
        .bearer_auth(&clerk.token)
        .json(&json!({ "id_number": wrong }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ID_NUMBER_CHECKSUM",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "id_number");
    let unknown = id_number("45022119850612724");
    let response = app
        .client
        .post(app.url("/api/v1/persons/lookup"))
        .bearer_auth(&clerk.token)
        .json(&json!({ "id_number": unknown }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, StatusCode::NOT_FOUND, "PERSON_NOT_FOUND").await;
    assert!(!body.to_string().contains(&unknown));
}

#[tokio::test]
async fn names_outside_the_bmp_are_stored_and_shown_exactly() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let clerk = app.staff("window.clerk", &["acceptor"]).await;
    let names = [
        "张𠈌",            // U+2020C, 4 bytes in UTF-8
        "䶮",              // U+4DAE, CJK extension A
        "𪚥𠀀𰻞",          // extensions B, B, G
        "阿依古丽·买买提", // minority name with a middle dot
        "Zoë 李",
    ];
    for (i, name) in names.iter().enumerate() {
        let id = id_number(&format!("450206199001{:02}00{i}", i + 1));
        services
            .register_person(&person(&id, name, None), &actor)
            .await
            .unwrap();
        let response = app
            .client
            .post(app.url("/api/v1/persons/lookup"))
            .bearer_auth(&clerk.token)
            .json(&json!({ "id_number": id }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["name"].as_str().unwrap(), *name);
    }
    // Byte for byte in the database itself.
    let mut stored: Vec<String> = sqlx::query("SELECT name FROM persons")
        .fetch_all(services.store().pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String, _>("name").unwrap())
        .collect();
    stored.sort();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(stored, expected);
    let astral = sqlx::query("SELECT name FROM persons WHERE name = $1")
        .bind("张𠈌".to_owned())
        .fetch_all(services.store().pool())
        .await
        .unwrap();
    assert_eq!(astral.len(), 1);
    assert_eq!(
        astral[0].try_get::<String, _>("name").unwrap().as_bytes(),
        "张𠈌".as_bytes()
    );
}

#[tokio::test]
async fn a_reimport_of_the_same_data_changes_nothing() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("importer");
    let id = id_number("45022219800101333");
    let record = person(&id, "吴八", Some("13900001111"));
    assert_eq!(
        services.upsert_person(&record, &actor).await.unwrap(),
        UpsertOutcome::Created
    );
    let audit_before = count(&services, "SELECT COUNT(*) FROM audit_log").await;
    let updated_at = || async {
        sqlx::query("SELECT updated_at FROM persons")
            .fetch_one(services.store().pool())
            .await
            .unwrap()
            .try_get::<String, _>(0)
            .unwrap()
    };
    let stamp = updated_at().await;
    assert_eq!(
        services.upsert_person(&record, &actor).await.unwrap(),
        UpsertOutcome::Unchanged
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );
    assert_eq!(updated_at().await, stamp);
    // The same person in another input form is still the same data.
    let mut lenient = PersonInput {
        id_number: id.to_lowercase(),
        name: " 吴八 ".to_owned(),
        mobile: Some("+86 139-0000-1111".to_owned()),
        address: Some("广西柳州市柳江区柳堡路318号5栋2单元".to_owned()),
        employer_uscc: Some(common::valid_uscc()),
        enrolment_region: "４５０２０６".to_owned(),
        enrolment_status: "contributing".to_owned(),
        enrolment_since: "20150701".to_owned(),
    };
    assert_eq!(
        services
            .upsert_person(&lenient.parse(today()).unwrap(), &actor)
            .await
            .unwrap(),
        UpsertOutcome::Unchanged
    );
    lenient.mobile = Some("13900002222".to_owned());
    lenient.enrolment_status = "暂停缴费".to_owned();
    assert_eq!(
        services
            .upsert_person(&lenient.parse(today()).unwrap(), &actor)
            .await
            .unwrap(),
        UpsertOutcome::Updated
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audit_before + 1
    );
    let view = services
        .person_by_id_number(&IdNumber::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(view.mobile_masked.as_deref(), Some("139****2222"));
    assert_eq!(view.enrolment.status_label, "暂停缴费");
    assert!(view.enrolment.enrolled_in_liuzhou);

    // Cards.
    let card_record = card("H00000001", &id, "ICBC", 40);
    assert_eq!(
        services.upsert_card(&card_record, &actor).await.unwrap(),
        UpsertOutcome::Created
    );
    let audit_before = count(&services, "SELECT COUNT(*) FROM audit_log").await;
    let events_before = count(&services, "SELECT COUNT(*) FROM card_events").await;
    assert_eq!(
        services.upsert_card(&card_record, &actor).await.unwrap(),
        UpsertOutcome::Unchanged
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM card_events").await,
        events_before
    );
    let mut changed = card_input("H00000001", &id, "ICBC", 40);
    changed.bank_account = Some(bank_account("621700009999888"));
    assert_eq!(
        services
            .upsert_card(&changed.parse().unwrap(), &actor)
            .await
            .unwrap(),
        UpsertOutcome::Updated
    );
    let view = services
        .card_by_number(&number("H00000001"), &Viewer::Staff)
        .await
        .unwrap();
    assert_eq!(
        view.bank_account_masked.as_deref(),
        Some(format!("6217 **** **** {}", &bank_account("621700009999888")[12..]).as_str())
    );
    // States of a registered card never change through an import.
    let mut state_change = changed.clone();
    state_change.social_state = Some("正常".to_owned());
    let error = services
        .upsert_card(&state_change.parse().unwrap(), &actor)
        .await
        .unwrap_err();
    let (code, detail) = conflict_code(&error);
    assert_eq!(code, "CARD_STATE_DIFFERS");
    assert!(
        detail.contains("“制卡中”") && detail.contains("“正常”"),
        "{detail}"
    );
    // Nor does the holder.
    let other = id_number("45022219800101444");
    services
        .upsert_person(&person(&other, "郑九", None), &actor)
        .await
        .unwrap();
    let mut other_holder = changed.clone();
    other_holder.holder_id_number.clone_from(&other);
    let error = services
        .upsert_card(&other_holder.parse().unwrap(), &actor)
        .await
        .unwrap_err();
    assert_eq!(conflict_code(&error).0, "CARD_HOLDER_MISMATCH");

    // Batches: many rows in one transaction, one audit entry from the caller.
    let audit_before = count(&services, "SELECT COUNT(*) FROM audit_log").await;
    let batch: Vec<PersonRecord> = (0..5)
        .map(|i| person(&id_number(&format!("4502031995050500{i}")), "批量", None))
        .collect();
    let mut tx = services.store().begin().await.unwrap();
    let mut outcomes = Vec::new();
    for record in &batch {
        outcomes.push(services.upsert_person_in(&mut tx, record).await.unwrap());
    }
    // A rule error on one row leaves the transaction usable.
    let error = services
        .upsert_card_in(
            &mut tx,
            &card("J00000001", &id_number("45020319950505999"), "ICBC", 50),
            &actor,
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "PERSON_NOT_FOUND");
    assert_eq!(
        services
            .upsert_card_in(
                &mut tx,
                &card("J00000002", &id_number("45020319950505000"), "ICBC", 51),
                &actor
            )
            .await
            .unwrap(),
        UpsertOutcome::Created
    );
    tx.commit().await.unwrap();
    assert!(outcomes.iter().all(|o| *o == UpsertOutcome::Created));
    assert_eq!(
        count(&services, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );
    let mut tx = services.store().begin().await.unwrap();
    for record in &batch {
        assert_eq!(
            services.upsert_person_in(&mut tx, record).await.unwrap(),
            UpsertOutcome::Unchanged
        );
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn invalid_input_lists_every_problem_at_once() {
    let error = PersonInput {
        id_number: "450221198506127231".to_owned(),
        name: "   ".to_owned(),
        mobile: Some("12345".to_owned()),
        address: None,
        employer_uscc: Some("not a code".to_owned()),
        enrolment_region: "4502".to_owned(),
        enrolment_status: "在保".to_owned(),
        enrolment_since: "2015-13-01".to_owned(),
    }
    .parse(today())
    .unwrap_err();
    let ServiceError::Invalid { errors, .. } = error else {
        panic!("expected Invalid");
    };
    let fields: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id_number", "ID_NUMBER_CHECKSUM"),
            ("name", "NAME_EMPTY"),
            ("mobile", "MOBILE_FORMAT"),
            ("employer_uscc", "USCC_LENGTH"),
            ("enrolment_region", "REGION_CODE_FORMAT"),
            ("enrolment_status", "ENROLMENT_STATUS_INVALID"),
            ("enrolment_since", "DATE_FORMAT"),
        ]
    );
    assert!(errors.iter().all(|e| common::has_chinese(&e.message)));

    let mut input = card_input("K00000001", &id_number("45022119850612723"), "ICBC", 60);
    input.expiry_date = "2020-01-01".to_owned();
    input.social_state = Some("制卡中".to_owned());
    input.financial_state = Some("已激活".to_owned());
    input.bank_account = Some("6217000010001234567".to_owned());
    let ServiceError::Invalid { errors, .. } = input.parse().unwrap_err() else {
        panic!("expected Invalid");
    };
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "EXPIRY_BEFORE_ISSUE",
            "BANK_CARD_CHECKSUM",
            "CARD_STATES_INCONSISTENT"
        ]
    );
}

#[tokio::test]
async fn no_identifier_is_stored_in_plaintext() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let id = id_number("45022119850612723");
    let mobile = "13877212345";
    let address = "柳江区柳堡路318号5栋2单元";
    let account = account_for(0);
    let mut record = person(&id, "张𠈌", Some(mobile));
    record.address = sscard_domain::registry::Address::parse(address).unwrap();
    services.register_person(&record, &actor).await.unwrap();
    services
        .register_card(&card("A12345678", &id, "ICBC", 0), &actor)
        .await
        .unwrap();
    hand_out_and_activate(&services, "A12345678", &actor).await;
    // Updates seal again.
    let mut changed = record.clone();
    changed.mobile = Some(sscard_domain::identifiers::MobileNumber::parse("13977299999").unwrap());
    services.upsert_person(&changed, &actor).await.unwrap();
    let secrets = [
        id.clone(),
        mobile.to_owned(),
        "13977299999".to_owned(),
        account.clone(),
        address.to_owned(),
    ];
    let masked_account = masked_account(0);
    let masked = ["450221********723X", "139****9999", masked_account.as_str()];

    if app.db().is_postgres() {
        let pool = services.store().pool();
        let columns = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type = 'text'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(columns.len() > 20);
        let mut everything = String::new();
        for column in &columns {
            let table: String = column.try_get("t").unwrap();
            let name: String = column.try_get("c").unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT \"{name}\" AS v FROM \"{table}\""
            )))
            .fetch_all(pool)
            .await
            .unwrap();
            for row in rows {
                if let Some(value) = row.try_get::<Option<String>, _>("v").unwrap() {
                    everything.push_str(&value);
                    everything.push('\n');
                }
            }
        }
        for secret in &secrets {
            assert!(
                !everything.contains(secret.as_str()),
                "plaintext found in PostgreSQL"
            );
        }
        for shown in masked {
            assert!(
                everything.contains(shown),
                "the scan sees the masked form {shown}"
            );
        }
    } else {
        services.store().close().await;
        let url = app.db().url().to_owned();
        let _db = app.stop().await;
        let path = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
        let dir = path.parent().unwrap();
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        assert!(bytes.len() > 10_000);
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        for secret in &secrets {
            assert!(
                !contains(secret.as_bytes()),
                "plaintext found in the SQLite files"
            );
        }
        for shown in masked {
            assert!(
                contains(shown.as_bytes()),
                "the scan sees the masked form {shown}"
            );
        }
        assert!(contains("张𠈌".as_bytes()), "names are stored as written");
    }
}

#[tokio::test]
async fn the_staff_page_shows_a_cards_two_states_and_history_masked() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let clerk = app.staff("window.clerk", &["acceptor"]).await;
    let actor = actor_of(&services, &clerk.token).await;
    let id = id_number("45022119850612723");
    let account = account_for(0);
    services
        .register_person(&person(&id, "张𠈌", Some("13877212345")), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("A12345678", &id, "ICBC", 0), &actor)
        .await
        .unwrap();
    hand_out_and_activate(&services, "A12345678", &actor).await;
    social(
        &services,
        "A12345678",
        SocialSecurityEvent::ReportLostTemporarily,
        Some("持卡人来电挂失"),
        &actor,
    )
    .await
    .unwrap();
    let cookie = format!("sscard_session={}", clerk.token);
    let post = |query: String| {
        app.client
            .post(app.url("/staff/cards"))
            .header("cookie", cookie.clone())
            .form(&[("query", query)])
            .send()
    };

    // The empty form.
    let response = app
        .client
        .get(app.url("/staff/cards"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("社会保障卡查询") && html.contains("name=\"query\""));

    // By card number (lower-case).
    let response = post("a12345678".to_owned()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("A1234****"));
    assert!(html.contains("社保应用状态"));
    assert!(
        html.contains(">临时挂失</span>"),
        "the social state with its label"
    );
    assert!(html.contains("金融应用状态") && html.contains(">未激活</span>"));
    assert!(html.contains("450221********723X"));
    assert!(html.contains(&masked_account(0)));
    assert!(html.contains("张𠈌"));
    let history = html.split("<tbody>").nth(1).unwrap();
    let rows = history
        .split("</tbody>")
        .next()
        .unwrap()
        .matches("<tr>")
        .count();
    assert_eq!(rows, 6, "register ×2, 制卡完成, 领卡, 启用, 临时挂失");
    for text in [
        "登记",
        "制卡完成",
        "领卡",
        "启用社保应用",
        "临时挂失",
        "持卡人来电挂失",
        "window.clerk",
    ] {
        assert!(history.contains(text), "history shows {text}");
    }
    for secret in ["A12345678", id.as_str(), "13877212345", account.as_str()] {
        assert!(!html.contains(secret), "the page leaks a full identifier");
    }

    // By ID number, typed full-width with a lower-case x.
    let typed: String = id
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            _ => 'x',
        })
        .collect();
    let response = post(typed).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("参保人信息") && html.contains("张𠈌"));
    assert!(html.contains("138****2345") && html.contains("已参加柳州市社会保险"));
    assert!(html.contains(">临时挂失</span>"));
    for secret in ["A12345678", id.as_str(), "13877212345", account.as_str()] {
        assert!(!html.contains(secret), "the page leaks a full identifier");
    }

    // Mistakes are shown on the page, in Chinese.
    let response = post("A1234".to_owned()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("9位社会保障卡卡号"));
    let response = post("Z99999999".to_owned()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("未找到卡号为 Z9999****")
    );

    // Bank tellers and the anonymous do not get the page.
    let teller = app.staff("icbc.teller", &["bank_teller"]).await;
    let response = app
        .client
        .get(app.url("/staff/cards"))
        .header("cookie", format!("sscard_session={}", teller.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .client
        .get(app.url("/staff/cards"))
        .send()
        .await
        .unwrap();
    assert!(
        !response.status().is_success(),
        "anonymous: {}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transitions_leave_one_consistent_history() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let actor = Actor::operator("tester");
    let id = id_number("45020419830303777");
    services
        .register_person(&person(&id, "冯十", None), &actor)
        .await
        .unwrap();
    services
        .register_card(&card("L00000001", &id, "ICBC", 70), &actor)
        .await
        .unwrap();
    hand_out_and_activate(&services, "L00000001", &actor).await;
    // Eight clerks report the card lost while two tellers activate its
    // bank account, all at once.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let mut tasks = Vec::new();
    for n in 0..10 {
        let services = services.clone();
        let actor = actor.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            if n < 8 {
                social(
                    &services,
                    "L00000001",
                    SocialSecurityEvent::ReportLostTemporarily,
                    None,
                    &actor,
                )
                .await
                .map(|_| "social")
            } else {
                financial(&services, "L00000001", FinancialEvent::Activate, &actor)
                    .await
                    .map(|_| "financial")
            }
        }));
    }
    let mut won = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(application) => won.push(application),
            Err(error) => assert!(
                [
                    "CARD_REPORTED_LOST",
                    "CARD_STATE_CHANGED",
                    "FINANCIAL_ALREADY_ACTIVE"
                ]
                .contains(&error.code()),
                "{error:?}"
            ),
        }
    }
    assert_eq!(won.iter().filter(|a| **a == "social").count(), 1);
    assert!(won.iter().filter(|a| **a == "financial").count() <= 1);
    let history = services
        .card_history(&number("L00000001"), &Viewer::Staff)
        .await
        .unwrap();
    let seqs: Vec<i64> = history.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=i64::try_from(history.len()).unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(history.len(), 5 + won.len());
    let view = services
        .card_by_number(&number("L00000001"), &Viewer::Staff)
        .await
        .unwrap();
    assert_eq!(view.social_state.code, "temporarily_lost");
    assert!(services.verify_audit().await.unwrap().is_intact());
}
