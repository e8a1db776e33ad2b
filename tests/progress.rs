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

    // Each wrong field gets the same answer: status, code and body (but for
    // the request id, which is every answer's own).
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
        let mut problem =
            assert_problem(response, StatusCode::NOT_FOUND, "PROGRESS_NOT_FOUND").await;
        problem.as_object_mut().unwrap().remove("request_id");
        answers.push(problem);
    }
    assert_eq!(answers.len(), 3);
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
    for _ in 0..100 {
        let (status, _): (StatusCode, Value) = app.post_json("/api/v1/progress", &body).await;
        statuses.push(status);
    }
    assert!(
        statuses[..30].iter().all(|s| *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    // The hundredth rapid wrong query from one address is refused.
    assert_eq!(statuses[99], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    app.stop().await;
}

/// The staff's look-up for phone and on-site queries (电话查询、现场查询),
/// by application number or ID number: one audit entry per look-up, naming
/// who searched, what (masked) and how many cases were found.
#[tokio::test]
async fn every_staff_look_up_is_audited_with_the_query_masked() {
    let app = TestApp::spawn().await;
    let citizen = app
        .cardholder("45022119900101244", "覃明", &card_number(23), "collected")
        .await;
    let first = app.apply_online(&citizen, &card_number(23)).await;
    let clerk = app.staff("lookup.clerk", &["acceptor"]).await;
    let supervisor = app.staff("lookup.supervisor", &["supervisor"]).await;
    let audited = |app: &TestApp| {
        let token = supervisor.token.clone();
        let url = app.url("/api/v1/audit?action=case.lookup&per_page=200");
        let client = app.client.clone();
        async move {
            let body: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["entries"].as_array().unwrap().clone()
        }
    };
    assert!(audited(&app).await.is_empty());

    // By ID number (in the body): the holder's cases, masked.
    let (status, found) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications/lookup",
            &json!({ "id_number": citizen.id_number.to_lowercase() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["searched_by"], "id_number");
    assert_eq!(found["cases"][0]["application_no"], first.as_str());
    assert!(!found.to_string().contains(&citizen.id_number));
    let entries = audited(&app).await;
    assert_eq!(entries.len(), 1, "one entry per look-up: {entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["actor_username"], "lookup.clerk");
    assert_eq!(entry["outcome"], "succeeded");
    assert_eq!(entry["detail"]["by"], "id_number");
    assert_eq!(entry["detail"]["results"], 1);
    let query = entry["detail"]["query"].as_str().unwrap();
    assert!(
        query.contains('*') && query.ends_with(&citizen.id_number[14..]),
        "{query}"
    );
    assert!(
        !entry.to_string().contains(&citizen.id_number),
        "masked in the trail"
    );

    // By number, found and not found: each audited.
    let (status, found) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications/lookup",
            &json!({ "application_no": first }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["cases"].as_array().unwrap().len(), 1);
    let (_, none) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications/lookup",
            &json!({ "application_no": "SQ-20000101-000001" }),
        )
        .await;
    assert_eq!(none["cases"], json!([]));
    let entries = audited(&app).await;
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().any(|e| e["detail"]["results"] == 0));
    // Neither or both is not a look-up: refused before anything is searched.
    let (status, problem) = app
        .post_as(&clerk.token, "/api/v1/applications/lookup", &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "LOOKUP_QUERY_REQUIRED");
    assert_eq!(audited(&app).await.len(), 3);

    // The workbench's find form posts the ID number; the number from a URL
    // opens the case. Both audited.
    let cookie = format!("sscard_session={}", clerk.token);
    let page = app
        .client
        .post(app.url("/cases/find"))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("query", citizen.id_number.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&first), "{html}");
    assert!(!html.contains(&citizen.id_number), "{html}");
    let opened = app
        .client
        .get(app.url(&format!(
            "/cases/find?application_no={}",
            first.to_lowercase()
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        opened.headers()["location"].to_str().unwrap(),
        format!("/cases/{first}")
    );
    let entries = audited(&app).await;
    assert_eq!(entries.len(), 5);
    app.stop().await;
}
