//! 办理进度查询: the public query by application number, ID number and name
//! — all three must match, a wrong one is not singled out, nothing travels
//! in the URL, and the route is rate-limited.

mod common;

use common::cases::card_number;
use common::{TestApp, TestDb, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_three_must_match_and_a_wrong_one_is_not_named() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101200", "韦小宝", &card_number(20), "collected")
        .await;
    let no = app.apply_online(&citizen, &card_number(20)).await;
    let acceptor = app.staff("progress.acceptor", &["acceptor"]).await;
    app.act(
        &acceptor.token,
        &no,
        "notify-missing",
        &json!({ "materials": [{ "code": "application_form", "status": "defective", "reason": "地址不全" }] }),
        StatusCode::OK,
    )
    .await;

    let (status, view) = app
        .post_json(
            "/api/v1/progress",
            &json!({ "application_no": no.to_lowercase(), "id_number": citizen.id_number, "name": "韦小宝" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["application_no"], no.as_str());
    assert_eq!(view["status"], "awaiting_supplement");
    assert_eq!(view["status_label"], "补正中");
    assert_eq!(view["applicant_name_masked"], "韦*宝");
    assert_eq!(
        view["missing_materials"],
        json!(["《社会保障卡服务申请表》"])
    );
    assert_eq!(view["steps_done"].as_array().unwrap().len(), 2);
    let text = view.to_string();
    assert!(!text.contains(&citizen.id_number));
    assert!(!text.contains("韦小宝"));

    // Each wrong field gets the same answer.
    let other_id = common::valid_id_number("45022119900101211");
    let wrong = [
        json!({ "application_no": "SQ-20261127-999999", "id_number": citizen.id_number, "name": "韦小宝" }),
        json!({ "application_no": no, "id_number": other_id, "name": "韦小宝" }),
        json!({ "application_no": no, "id_number": citizen.id_number, "name": "韦大宝" }),
    ];
    let mut answers = Vec::new();
    for body in wrong {
        let response = app
            .client
            .post(app.url("/api/v1/progress"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::NOT_FOUND, "PROGRESS_NOT_FOUND").await;
        answers.push((problem["title"].clone(), problem["detail"].clone()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");

    // An ID number that is not one is a format error, which reveals nothing.
    let (status, problem) = app
        .post_json(
            "/api/v1/progress",
            &json!({ "application_no": no, "id_number": "12345", "name": "" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_public_page_shows_the_progress_without_putting_identifiers_in_the_url() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101222", "蓝天", &card_number(21), "collected")
        .await;
    let no = app.apply_online(&citizen, &card_number(21)).await;
    let page = app.get("/progress").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"method="post" action="/progress""#));
    let answer = app
        .client
        .post(app.url("/progress"))
        .form(&[
            ("application_no", no.as_str()),
            ("id_number", citizen.id_number.as_str()),
            ("name", "蓝天"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let html = answer.text().await.unwrap();
    assert!(html.contains("待受理"), "{html}");
    assert!(html.contains(&no));
    assert!(!html.contains(&citizen.id_number));
    let wrong = app
        .client
        .post(app.url("/progress"))
        .form(&[
            ("application_no", no.as_str()),
            ("id_number", citizen.id_number.as_str()),
            ("name", "蓝地"),
        ])
        .send()
        .await
        .unwrap();
    let html = wrong.text().await.unwrap();
    assert!(html.contains("同时相符"), "{html}");
    assert!(!html.contains("待受理"));
    app.stop().await;
}

#[tokio::test]
async fn guessing_is_rate_limited() {
    // Production limits: a burst of 30, then one every two seconds.
    let app = TestApp::spawn_with(TestDb::new().await, sscard::http::HttpConfig::default()).await;
    let body = json!({
        "application_no": "SQ-20261127-000001",
        "id_number": common::valid_id_number("45022119900101233"),
        "name": "某人",
    });
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, _): (StatusCode, Value) = app.post_json("/api/v1/progress", &body).await;
        statuses.push(status);
    }
    assert!(
        statuses[..30].iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}
