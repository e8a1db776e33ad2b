//! Health, readiness, the OpenAPI document, the API docs page and the guide page.

mod common;

use common::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let response = app.get("/healthz").await;
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_contract_routes() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/guide",
        "/api/v1/guide/versions/{version}",
        "/api/v1/calendar/deadline",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());

    let docs = app.get("/api/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("swagger"),
        "Swagger UI is served from the binary"
    );
    assert!(!html.contains("cdn."), "no CDN");
}

#[tokio::test]
async fn the_home_page_shows_the_guide_in_chinese() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    for text in [
        "社会保障卡启用（含社会保障卡银行账户激活）",
        "收件与受理",
        "审查与决定",
        "颁证与送达",
        "《社会保障卡服务申请表》",
        "通过基本证照凭证核验",
        "申请人已参加柳州市社会保险",
        "周一至周五",
        "0772-7215670",
        "002014010002",
    ] {
        assert!(html.contains(text), "the page shows {text}");
    }
    let css = app.get("/static/style.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
