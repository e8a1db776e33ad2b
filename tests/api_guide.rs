//! The published service guide through the public API.

mod common;

use common::{TestApp, assert_problem};
use reqwest::StatusCode;

#[tokio::test]
async fn the_current_guide_is_version_44_with_every_contract_field() {
    let app = TestApp::spawn().await;
    let (status, guide) = app.get_json("/api/v1/guide").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(guide["version"], 44);
    assert_eq!(
        guide["item_name"],
        "社会保障卡启用（含社会保障卡银行账户激活）"
    );
    assert_eq!(guide["item_code"], "002014010002");
    assert_eq!(
        guide["implementation_code"],
        "11450221007624051J4002014010002"
    );

    let steps = guide["process"].as_array().expect("process steps");
    let actions: Vec<&str> = steps
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["受理", "经办", "反馈"]);
    let limits: Vec<u64> = steps
        .iter()
        .map(|s| s["time_limit_working_days"].as_u64().unwrap())
        .collect();
    assert_eq!(limits, [0, 1, 0]);
    for step in steps {
        for field in [
            "step",
            "action",
            "role",
            "time_limit_working_days",
            "result",
        ] {
            assert!(!step[field].is_null(), "step field {field} in {step}");
        }
        assert!(
            step.get("criterion").is_some(),
            "criterion present in {step}"
        );
    }
    assert_eq!(steps[0]["role"], "受理岗人员");
    assert_eq!(steps[2]["result"], "业务反馈单");

    let materials = guide["materials"].as_array().expect("materials");
    assert_eq!(materials.len(), 5);
    let own_card = materials
        .iter()
        .find(|m| m["name"] == "本人社会保障卡")
        .expect("own card material");
    assert_eq!(own_card["waivable"], true);
    assert_eq!(own_card["waiver_method"], "通过基本证照凭证核验");

    assert_eq!(
        guide["acceptance_conditions"][0],
        "申请人已参加柳州市社会保险"
    );
    assert_eq!(guide["windows"][0]["name"], "综合受理1-2号窗口");
    let channels: Vec<&str> = guide["query_channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["网上查询", "电话查询", "现场查询"]);
    assert!(guide["published_at"].as_str().is_some());
}

#[tokio::test]
async fn a_published_version_is_served_by_number_and_unknown_ones_are_problems() {
    let app = TestApp::spawn().await;
    let (status, current) = app.get_json("/api/v1/guide").await;
    assert_eq!(status, StatusCode::OK);
    let (status, v44) = app.get_json("/api/v1/guide/versions/44").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current, v44);

    let (status, list) = app.get_json("/api/v1/guide/versions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["version"], 44);
    assert_eq!(list[0]["current"], true);

    let missing = assert_problem(
        app.get("/api/v1/guide/versions/43").await,
        StatusCode::NOT_FOUND,
        "GUIDE_VERSION_NOT_FOUND",
    )
    .await;
    assert!(missing["detail"].as_str().unwrap().contains("43"));
    assert_problem(
        app.get("/api/v1/guide/versions/latest").await,
        StatusCode::BAD_REQUEST,
        "INVALID_PATH",
    )
    .await;
}

#[tokio::test]
async fn restarting_on_the_same_database_keeps_one_copy_of_the_guide() {
    let app = TestApp::spawn().await;
    let db = app.stop().await;
    let services = db.services().await;
    let versions = services.guide_versions().await.unwrap();
    assert_eq!(versions.len(), 1, "the shipped guide is published once");
    assert_eq!(versions[0].version, 44);
    services.store().close().await;
}
