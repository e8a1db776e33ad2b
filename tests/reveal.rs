//! 查看完整信息: full identifiers only on request, with a reason, audited.

mod common;

use common::{TestApp, assert_problem, valid_id_number};
use reqwest::StatusCode;
use serde_json::json;
use sscard::service::Actor;
use sscard::service::registry::CardInput;

/// A Luhn-valid 19-digit bank account number.
fn bank_account() -> String {
    let payload = "621700001000123456";
    let check = sscard_domain::identifiers::luhn_check_digit(payload).expect("check digit");
    format!("{payload}{check}")
}

async fn holder_with_card(app: &TestApp) -> String {
    let id_number = valid_id_number("45020619900101123");
    app.register_person(&id_number, "王𠈌", Some("13812345678"))
        .await;
    let record = CardInput {
        card_number: "R00000001".to_owned(),
        card_identification_code: "450200D1560000050000000000000001".to_owned(),
        issuing_area_code: "450200".to_owned(),
        spec_version: "3.00".to_owned(),
        issue_date: "20240315".to_owned(),
        expiry_date: "20340314".to_owned(),
        holder_id_number: id_number.clone(),
        bank_code: "CCB".to_owned(),
        bank_account: Some(bank_account()),
        social_state: None,
        financial_state: None,
    }
    .parse()
    .expect("a valid card");
    app.db()
        .services()
        .await
        .register_card(&record, &Actor::system())
        .await
        .expect("register the card");
    id_number
}

#[tokio::test]
async fn a_window_clerk_reveals_with_a_reason_and_the_reveal_is_audited() {
    let app = TestApp::spawn().await;
    let id_number = holder_with_card(&app).await;
    let clerk = app.staff("clerk.reveal", &["acceptor"]).await;
    let url = app.url("/api/v1/cards/R00000001/reveal");

    // The card view is masked.
    let card = app
        .client
        .get(app.url("/api/v1/cards/R00000001"))
        .bearer_auth(&clerk.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !card.contains(&id_number) && !card.contains(&bank_account()),
        "{card}"
    );

    // No reason, no fields: every problem at once, nothing revealed.
    let refused = app
        .client
        .post(&url)
        .bearer_auth(&clerk.token)
        .json(&json!({"fields": []}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let codes: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["REVEAL_FIELDS_REQUIRED", "REVEAL_REASON_REQUIRED"]);

    let revealed = app
        .client
        .post(&url)
        .bearer_auth(&clerk.token)
        .json(&json!({"fields": ["id_number", "mobile", "bank_account"], "reason": "核对本人身份证件"}))
        .send()
        .await
        .unwrap();
    assert_eq!(revealed.status(), StatusCode::OK);
    assert_eq!(revealed.headers()["cache-control"], "no-store");
    let revealed: serde_json::Value = revealed.json().await.unwrap();
    assert_eq!(revealed["id_number"], id_number);
    assert_eq!(revealed["mobile"], "13812345678");
    assert_eq!(revealed["bank_account"], bank_account());
    assert!(revealed.get("address").is_none(), "no address on record");

    // The trail names who, why and which fields — never the values.
    let supervisor = app.staff("supervisor.reveal", &["supervisor"]).await;
    let trail = app
        .client
        .get(app.url("/api/v1/audit?action=person.reveal"))
        .bearer_auth(&supervisor.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(trail.contains("核对本人身份证件"), "{trail}");
    assert!(
        trail.contains("id_number") && trail.contains("bank_account"),
        "{trail}"
    );
    assert!(
        !trail.contains(&id_number) && !trail.contains("13812345678"),
        "{trail}"
    );

    let missing = app
        .client
        .post(app.url("/api/v1/cards/Z99999999/reveal"))
        .bearer_auth(&clerk.token)
        .json(&json!({"fields": ["mobile"], "reason": "核对"}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "CARD_NOT_FOUND").await;
}

#[tokio::test]
async fn supervisors_and_bank_tellers_cannot_reveal() {
    let app = TestApp::spawn().await;
    holder_with_card(&app).await;
    for (name, role) in [
        ("sup.noreveal", "supervisor"),
        ("teller.noreveal", "bank_teller"),
    ] {
        let account = app.staff(name, &[role]).await;
        let response = app
            .client
            .post(app.url("/api/v1/cards/R00000001/reveal"))
            .bearer_auth(&account.token)
            .json(&json!({"fields": ["id_number"], "reason": "想看看"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;
    }
}
