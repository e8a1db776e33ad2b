//! Every client mistake gets its own 4xx problem answer, never a 500.

mod common;

use common::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn unknown_api_routes_are_problems_and_unknown_pages_are_chinese_pages() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.get("/api/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    let page = app.get("/no-such-page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("您访问的页面不存在"), "{html}");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_a_problem() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(app.url("/api/v1/guide"))
        .send()
        .await
        .unwrap();
    let body = assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("DELETE"));
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_are_told_apart() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/v1/identifiers/check");

    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"id_number\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;

    let wrong_type = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{\"id_number\": \"11010519491231002X\"}")
        .send()
        .await
        .unwrap();
    assert_problem(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;

    let oversized = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"mobile\": \"{}\"}}", "1".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_problem(
        oversized,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    let (status, body) = app
        .post_json("/api/v1/identifiers/check", &json!({"id_numbr": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "VALIDATION_FAILED");
    assert!(
        body["detail"].as_str().unwrap().contains("id_numbr"),
        "names the unknown field: {body}"
    );

    let (status, body) = app
        .post_json("/api/v1/identifiers/check", &json!({"id_number": 110105}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn identifier_precheck_reports_every_problem_at_once_and_masks_what_is_valid() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json(
            "/api/v1/identifiers/check",
            &json!({"id_number": " 11010519491231002x ", "uscc": "11450221007624051J", "mobile": "13812345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id_number"]["masked"], "110105********002X");
    assert_eq!(body["id_number"]["birth_date"], "1949-12-31");
    assert_eq!(body["id_number"]["sex"], "female");
    assert_eq!(body["mobile"], "138****5678");
    assert!(
        !body.to_string().contains("11010519491231002X"),
        "never the full number: {body}"
    );

    let response = app
        .client
        .post(app.url("/api/v1/identifiers/check"))
        .json(&json!({
            "id_number": "110105194912310021",
            "uscc": "11450221007624051K",
            "card_number": "A12",
            "bank_card_number": "6217000010001234560",
            "mobile": "12345"
        }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let errors = body["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "id_number",
            "uscc",
            "card_number",
            "bank_card_number",
            "mobile"
        ]
    );
    assert_eq!(errors[0]["code"], "ID_NUMBER_CHECKSUM");
    assert_eq!(errors[1]["code"], "USCC_CHECKSUM");
    for error in errors {
        assert!(
            common::has_chinese(error["message"].as_str().unwrap()),
            "{error}"
        );
    }

    let body = assert_problem(
        app.client
            .post(app.url("/api/v1/identifiers/check"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "NOTHING_TO_CHECK");
}
