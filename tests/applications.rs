//! The activation case over the API: the three channels, 受理 → 经办 → 反馈,
//! one-time notices and supplements, refusals and denials, deadlines and
//! guide versions, idempotency and races — on SQLite and, when
//! `SSCARD_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::cases::{PNG_SCAN, card_number, id_number_for, online_form, window_form};
use common::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn an_online_case_goes_through_a_notice_and_ends_with_the_card_active() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101123", "韦𠈌", &card_number(1), "collected")
        .await;
    let acceptor = app.staff("shouli", &["acceptor"]).await;
    let processor = app.staff("jingban", &["processor"]).await;
    let feedback = app.staff("fankui", &["feedback"]).await;

    let no = app.apply_online(&citizen, &card_number(1)).await;
    let (_, case) = app
        .get_as(&citizen.token, &format!("/api/v1/applications/{no}"))
        .await;
    assert_eq!(case["status"], "submitted");
    assert_eq!(case["guide_version"], 44);
    assert_eq!(case["channel"], "online");
    assert_eq!(case["applicant_name"], "韦𠈌");
    let own_card = case["materials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "own_card")
        .unwrap();
    assert_eq!(own_card["status"], "verified_by_e_certificate");
    assert!(!case.to_string().contains(&citizen.id_number));

    // The acceptor finds the form defective: a one-time notice.
    let noticed = app
        .act(
            &acceptor.token,
            &no,
            "notify-missing",
            &json!({ "materials": [
                { "code": "application_form", "status": "defective", "reason": "通讯地址不完整" }
            ]}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(noticed["status"], "awaiting_supplement");
    assert_eq!(noticed["notice"]["items"].as_array().unwrap().len(), 1);
    assert!(noticed["step_due"].is_null());
    let sms = app.sms_outbox().await;
    assert!(
        sms.iter()
            .any(|(_, text)| text.contains(&no) && text.contains("补正"))
    );

    // The applicant supplements with a scan; the case returns to 待受理.
    let upload = app.upload_as(&citizen.token, "申请表.png", PNG_SCAN).await;
    let supplemented = app
        .act(
            &citizen.token,
            &no,
            "supplement",
            &json!({ "materials": [{ "code": "application_form", "upload_id": upload }] }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(supplemented["status"], "submitted");
    assert!(supplemented["step_due"].is_string());

    app.act(&acceptor.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    let approved = app
        .act(
            &processor.token,
            &no,
            "approve",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    assert_eq!(approved["status"], "awaiting_feedback");
    assert_eq!(approved["outcome"], "approved");
    let done = app
        .act(
            &feedback.token,
            &no,
            "deliver",
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["status_label"], "已办结（准予启用）");
    let actions: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submit",
            "notify_missing",
            "supplement",
            "accept",
            "approve",
            "deliver"
        ]
    );
    let (_, card) = app
        .get_as(
            &processor.token,
            &format!("/api/v1/cards/{}", card_number(1)),
        )
        .await;
    assert_eq!(card["social_state"]["code"], "normal", "{card}");
    app.stop().await;
}

#[tokio::test]
async fn a_walk_in_case_is_done_in_one_sitting_and_a_replayed_key_returns_it() {
    let app = TestApp::spawn().await;
    let id = id_number_for(2);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(2), "collected").await;
    let clerk = app
        .staff("window1", &["acceptor", "processor", "feedback"])
        .await;
    let form = window_form(&id, "黄明", &card_number(2));
    let response = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&clerk.token)
        .header("Idempotency-Key", "walk-in-0001")
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let first: Value = response.json().await.unwrap();
    let no = first["application_no"].as_str().unwrap().to_owned();
    assert!(first["deadline"].is_string());
    let again = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&clerk.token)
        .header("Idempotency-Key", "walk-in-0001")
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    let replayed: Value = again.json().await.unwrap();
    assert_eq!(replayed["application_no"], no.as_str());
    let mut other = form.clone();
    other["delivery"] = json!({ "method": "online" });
    let reused = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&clerk.token)
        .header("Idempotency-Key", "walk-in-0001")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_problem(reused, StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED").await;

    for action in ["accept", "approve"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    let done = app
        .act(
            &clerk.token,
            &no,
            "deliver",
            &json!({ "delivery": { "collected_by": "holder" } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"], "approved");
    app.stop().await;
}

#[tokio::test]
async fn a_person_not_insured_in_liuzhou_is_refused_and_a_lost_card_denied() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("window2", &["acceptor", "processor", "feedback"])
        .await;
    let outsider = id_number_for(3);
    app.register_person_enrolled(&outsider, "陆远", "450102", "contributing")
        .await;
    app.register_card(&outsider, &card_number(3), "collected")
        .await;
    let (status, case) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications",
            &window_form(&outsider, "陆远", &card_number(3)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let no = case["application_no"].as_str().unwrap();
    let (status, problem) = app
        .post_as(
            &clerk.token,
            &format!("/api/v1/applications/{no}/accept"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "NOT_INSURED_IN_LIUZHOU");
    let refused = app
        .act(&clerk.token, no, "refuse", &Value::Null, StatusCode::OK)
        .await;
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["outcome_code"], "NOT_INSURED_IN_LIUZHOU");

    let lost = id_number_for(4);
    app.register_person(&lost, "覃丽", Some("13977212346"))
        .await;
    app.register_card(&lost, &card_number(4), "temporarily_lost")
        .await;
    let (_, case) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications",
            &window_form(&lost, "覃丽", &card_number(4)),
        )
        .await;
    let no = case["application_no"].as_str().unwrap();
    app.act(&clerk.token, no, "accept", &Value::Null, StatusCode::OK)
        .await;
    let problem = app
        .act(
            &clerk.token,
            no,
            "approve",
            &Value::Null,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(problem["code"], "CARD_REPORTED_LOST");
    let denied = app
        .act(&clerk.token, no, "deny", &Value::Null, StatusCode::OK)
        .await;
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["outcome_code"], "CARD_REPORTED_LOST");
    app.stop().await;
}

#[tokio::test]
async fn the_precheck_lists_every_problem_at_once() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101135", "蒙小", &card_number(5), "collected")
        .await;
    let mut form = online_form(&citizen, "1234");
    form["applicant"]["mobile"] = json!("12345");
    form["declaration"] = json!(false);
    form["delivery"] = json!({ "method": "pigeon" });
    let (status, report) = app
        .post_as(&citizen.token, "/api/v1/applications/precheck", &form)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["ok"], false);
    let fields: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "applicant.mobile",
        "card_number",
        "declaration",
        "delivery.method",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    let (status, problem) = app
        .post_as(&citizen.token, "/api/v1/applications", &form)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"].as_array().unwrap().len(), fields.len());
    app.stop().await;
}
