//! The staff's case pages over HTTP, as a browser uses them (cookie session,
//! same-origin form posts, 303 redirects): who may open which page, a double
//! submission of the window entry giving one case, a posted application,
//! a scan opened from the case page, and refusals shown as Chinese pages —
//! on SQLite and, when `SSCARD_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::TestApp;
use common::cases::{PNG_SCAN, card_number, id_number_for, online_form};
use common::pages::{Person, html, location};
use reqwest::StatusCode;
use serde_json::json;

/// A walk-in's entry form, every material presented.
fn entry<'a>(id_number: &'a str, name: &'a str, card: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_key", "7d3b2c1e-8f4a-4b6c-9d2e-1a2b3c4d5e6f"),
        ("channel", "window"),
        ("applicant.name", name),
        ("applicant.id_number", id_number),
        ("applicant.mobile", "13977212345"),
        ("card_number", card),
        ("delivery.method", "window"),
        ("material.application_form", "always"),
        ("status.application_form", "submitted"),
        ("material.own_card", "always"),
        ("status.own_card", "submitted"),
        ("material.agent_id_card", "agent"),
        ("material.agent_commitment", "agent"),
        ("declaration", "yes"),
        ("intent", "submit"),
    ]
}

#[tokio::test]
async fn every_case_page_allows_exactly_the_expected_roles() {
    const ROLES: [&str; 7] = [
        "acceptor",
        "processor",
        "feedback",
        "supervisor",
        "admin",
        "bank_teller",
        "employer",
    ];
    const BUREAU: &[&str] = &["acceptor", "processor", "feedback", "supervisor", "admin"];
    let pages: [(&str, &str, &[&str]); 7] = [
        ("GET", "/cases", BUREAU),
        (
            "GET",
            "/cases/find?application_no=SQ-20000101-000001",
            BUREAU,
        ),
        ("GET", "/cases/SQ-20000101-000001", BUREAU),
        (
            "GET",
            "/cases/SQ-20000101-000001/materials/application_form",
            BUREAU,
        ),
        ("GET", "/cases/new", &["acceptor"]),
        ("POST", "/cases/new", &["acceptor"]),
        (
            "POST",
            "/cases/SQ-20000101-000001/accept",
            &["acceptor", "processor", "feedback"],
        ),
    ];
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for role in ROLES {
        let username = format!("cases.{}", role.replace('_', "-"));
        people.push((role, Person::signed_in(&app, &username, &[role]).await));
    }
    let anonymous = Person::new(&app);
    for (method, path, allowed) in pages {
        let request = |person: &Person| {
            let person = person.client.clone();
            let url = format!("{}{path}", app.url(""));
            let origin = app.url("");
            async move {
                match method {
                    "GET" => person.get(url).send().await.unwrap(),
                    _ => person
                        .post(url)
                        .header("origin", origin)
                        .header("sec-fetch-site", "same-origin")
                        .form(&[("intent", "precheck")])
                        .send()
                        .await
                        .unwrap(),
                }
            }
        };
        let response = request(&anonymous).await;
        assert_eq!(location(&response), "/signin", "anonymous {method} {path}");
        for (role, person) in &people {
            let response = request(person).await;
            if allowed.contains(role) {
                let status = response.status();
                assert!(
                    !matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
                    "{role} may {method} {path}: {status}"
                );
                if status == StatusCode::SEE_OTHER {
                    assert!(location(&response).starts_with("/cases"), "{role} {path}");
                }
            } else {
                let page = html(response, StatusCode::FORBIDDEN).await;
                assert!(
                    page.contains("此功能仅限"),
                    "{role} {method} {path}: {page}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_double_submission_gives_one_case_and_refusals_are_pages() {
    let app = TestApp::spawn().await;
    let id = id_number_for(21);
    app.register_person(&id, "黄二", Some("13977212345")).await;
    app.register_card(&id, &card_number(21), "collected").await;
    let clerk = Person::signed_in(&app, "entry.clerk", &["acceptor"]).await;

    let card = card_number(21);
    let form = entry(&id, "黄二", &card);
    let first = location(&clerk.post("/cases/new", &form).await);
    assert!(first.starts_with("/cases/SQ-"), "{first}");
    assert!(first.ends_with("?notice=submitted"), "{first}");
    let again = location(&clerk.post("/cases/new", &form).await);
    assert_eq!(first, again, "the same form key gives the same case");
    let (_, queue) = app
        .get_as(
            &app.staff("entry.api", &["acceptor"]).await.token,
            "/api/v1/applications?queue=submitted",
        )
        .await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");

    let page = html(clerk.get(&first).await, StatusCode::OK).await;
    assert!(page.contains("申请已录入"), "{page}");
    assert!(!page.contains(&id), "the ID number is masked");
    // 不予受理 offers the usual reasons, in Chinese, instead of a bare code.
    assert!(
        page.contains(r#"list="refuse-codes""#)
            && page.contains(
                r#"<option value="NOT_INSURED_IN_LIUZHOU">未参加柳州市社会保险</option>"#
            )
            && page
                .contains(r#"<option value="SUPPLEMENT_OVERDUE">一次性告知后逾期未补正</option>"#),
        "{page}"
    );

    // The same key with another form: said on the form, not an error page.
    let mut other = form.clone();
    other.retain(|(name, _)| *name != "delivery.method");
    other.push(("delivery.method", "online"));
    let page = html(clerk.post("/cases/new", &other).await, StatusCode::CONFLICT).await;
    assert!(page.contains("这份表单已经提交过"), "{page}");
    assert!(page.contains("id=\"entry\""), "the form stays: {page}");

    // An unknown case, action or material: Chinese pages.
    let page = html(
        clerk.get("/cases/SQ-20000101-000009").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        page.contains("未找到申请编号为 SQ-20000101-000009 的办件"),
        "{page}"
    );
    let no = first
        .trim_start_matches("/cases/")
        .trim_end_matches("?notice=submitted")
        .to_owned();
    html(
        clerk.post(&format!("/cases/{no}/launch"), &[]).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    html(
        clerk.get(&format!("/cases/{no}/materials/own_card")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // A step of another role: the domain's message on the case page.
    let page = html(
        clerk.post(&format!("/cases/{no}/approve"), &[]).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(page.contains("只能由经办岗人员办理"), "{page}");
    assert!(page.contains("id=\"case-error\""), "{page}");
    // The number as typed on the slip.
    let found = location(
        &clerk
            .get(&format!("/cases/find?application_no={}", no.to_lowercase()))
            .await,
    );
    assert_eq!(found, format!("/cases/{no}"));
}

#[tokio::test]
async fn a_posted_application_is_registered_with_its_waybill() {
    let app = TestApp::spawn().await;
    let id = id_number_for(22);
    app.register_person(&id, "蓝三", Some("13977212345")).await;
    app.register_card(&id, &card_number(22), "collected").await;
    let clerk = Person::signed_in(&app, "post.clerk", &["acceptor"]).await;
    let card = card_number(22);
    let mut form = entry(&id, "蓝三", &card);
    form.retain(|(name, _)| !matches!(*name, "channel" | "delivery.method" | "form_key"));
    form.extend([
        ("form_key", "0b0f8a52-7c1e-4f57-9a1e-1c2d3e4f5a6b"),
        ("channel", "express"),
        ("inbound_waybill", "sf1234567890"),
        ("received_at", "bad time"),
        ("delivery.method", "express"),
        ("delivery.recipient", "蓝三"),
        ("delivery.mobile", "13977212345"),
        ("delivery.address", "广西柳州市柳江区拉堡镇柳堡路318号"),
    ]);
    // Every problem at once, the page's own and the service's.
    let mut wrong = form.clone();
    wrong.retain(|(name, _)| *name != "declaration");
    let page = html(
        clerk.post("/cases/new", &wrong).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(page.contains("收件时间格式不正确"), "{page}");
    assert!(page.contains("请阅读并勾选承诺"), "{page}");
    assert!(page.contains("预审发现 2 处需要修改"), "{page}");

    let received = (sscard::clock::today_in_china() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let received_at = format!("{received}T10:30");
    form.retain(|(name, _)| *name != "received_at");
    form.push(("received_at", &received_at));
    let at = location(&clerk.post("/cases/new", &form).await);
    let page = html(clerk.get(&at).await, StatusCode::OK).await;
    assert!(page.contains("快递申请"), "{page}");
    assert!(page.contains("SF1234567890"), "{page}");
    assert!(
        page.contains(&format!("{received} 10:30")),
        "received, Beijing time: {page}"
    );
    assert!(page.contains("快递寄送（政府付费）"), "{page}");
}

#[tokio::test]
async fn a_scan_opens_in_the_browser_for_staff_only_from_its_case() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101231", "潘四", &card_number(23), "collected")
        .await;
    let upload = app.upload_as(&citizen.token, "申请表.png", PNG_SCAN).await;
    let mut form = online_form(&citizen, &card_number(23));
    form["materials"] = json!([{ "code": "application_form", "upload_id": upload }]);
    let (status, case) = app
        .post_as(&citizen.token, "/api/v1/applications", &form)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let no = case["application_no"].as_str().unwrap();

    let clerk = Person::signed_in(&app, "scan.clerk", &["processor"]).await;
    let page = html(clerk.get(&format!("/cases/{no}")).await, StatusCode::OK).await;
    let link = format!("/cases/{no}/materials/application_form");
    assert!(page.contains(&format!("href=\"{link}\"")), "{page}");
    assert!(page.contains("申请表.png（PNG，1 KB）"), "{page}");
    assert!(page.contains("已通过电子证照核验"), "{page}");
    assert!(page.contains("网上办理"), "{page}");
    // A processor cannot act before acceptance.
    assert!(page.contains("您的岗位不能办理"), "{page}");
    let response = clerk.get(&link).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG_SCAN);
}
