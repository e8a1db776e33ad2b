//! 好差评 and 整改回访: a case is rated once it has ended, once, by its own
//! cardholder online or by a window clerk for the applicant; a bad rating
//! opens a follow-up due in working days by the calendar, on which a
//! supervisor records the rectification and the call-back and closes it —
//! on SQLite and, with `SSCARD_TEST_POSTGRES_URL`, on PostgreSQL.

mod common;

use common::cases::{card_number, id_number_for, window_form};
use common::{CitizenSignedIn, SignedIn, TestApp, TestDb, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Staff for a case from start to end, and a supervisor.
struct Staff {
    clerk: SignedIn,
    supervisor: SignedIn,
}

async fn staff(app: &TestApp) -> Staff {
    Staff {
        clerk: app
            .staff("rating.clerk", &["acceptor", "processor", "feedback"])
            .await,
        supervisor: app.staff("rating.supervisor", &["supervisor"]).await,
    }
}

/// A cardholder numbered `n` applies online; the case goes through 受理, 经办
/// and 反馈 (online delivery) to 已办结.
async fn finished_online_case(app: &TestApp, staff: &Staff, n: u32) -> (CitizenSignedIn, String) {
    let citizen = app.cardholder_numbered(n, "collected").await;
    let no = app.apply_online(&citizen, &card_number(n)).await;
    for action in ["accept", "approve", "deliver"] {
        app.act(
            &staff.clerk.token,
            &no,
            action,
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    }
    (citizen, no)
}

/// The deadline `working_days` after today by the bureau's own calendar API.
async fn calendar_deadline(app: &TestApp, working_days: u32) -> String {
    let today = sscard::clock::today_in_china();
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/calendar/deadline?start={today}&working_days={working_days}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deadline"].as_str().expect("a deadline").to_owned()
}

async fn audit_entries(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    let (status, body) = app
        .get_as(
            token,
            &format!("/api/v1/audit?action={action}&per_page=200"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().expect("entries").clone()
}

#[tokio::test]
async fn a_bad_rating_opens_a_follow_up_due_in_working_days_and_is_closed_by_a_supervisor() {
    let app = TestApp::spawn().await;
    let staff = staff(&app).await;
    let citizen = app.cardholder_numbered(401, "collected").await;
    let no = app.apply_online(&citizen, &card_number(401)).await;
    let rating_path = format!("/api/v1/applications/{no}/rating");
    let bad = json!({ "level": "very_dissatisfied", "comment": "等了很久，<b>态度</b>不好" });

    // Before the case has ended: refused, whoever asks.
    let (status, problem) = app.post_as(&citizen.token, &rating_path, &bad).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "CASE_NOT_ENDED");
    for action in ["accept", "approve"] {
        app.act(
            &staff.clerk.token,
            &no,
            action,
            &Value::Null,
            StatusCode::OK,
        )
        .await;
    }
    let (status, problem) = app.post_as(&citizen.token, &rating_path, &bad).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "待反馈 has not ended: {problem}"
    );
    assert_eq!(problem["code"], "CASE_NOT_ENDED");
    app.act(
        &staff.clerk.token,
        &no,
        "deliver",
        &Value::Null,
        StatusCode::OK,
    )
    .await;

    // Another cardholder cannot rate it (nor learn that it exists).
    let other = app.cardholder_numbered(402, "collected").await;
    let (status, problem) = app.post_as(&other.token, &rating_path, &bad).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "APPLICATION_NOT_FOUND");

    // A level that is not one of the five, a comment too long.
    let (status, problem) = app
        .post_as(&citizen.token, &rating_path, &json!({ "level": "good" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "RATING_LEVEL_INVALID");
    let (status, problem) = app
        .post_as(
            &citizen.token,
            &rating_path,
            &json!({ "level": "satisfied", "comment": "慢".repeat(301) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "COMMENT_TOO_LONG");

    // The holder rates it 非常不满意: a follow-up due five working days on.
    let expected_due = calendar_deadline(&app, 5).await;
    let (status, rating) = app.post_as(&citizen.token, &rating_path, &bad).await;
    assert_eq!(status, StatusCode::CREATED, "{rating}");
    assert_eq!(rating["level"], "very_dissatisfied");
    assert_eq!(rating["level_label"], "非常不满意");
    assert_eq!(rating["channel"], "online");
    assert_eq!(rating["comment"], "等了很久，<b>态度</b>不好");
    assert_eq!(rating["follow_up"]["status"], "open");
    assert_eq!(rating["follow_up"]["due_on"], expected_due.as_str());

    // Once only: again, or at the window.
    let (status, problem) = app
        .post_as(
            &citizen.token,
            &rating_path,
            &json!({ "level": "satisfied" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "ALREADY_RATED");
    let response = app
        .client
        .post(app.url(&rating_path))
        .bearer_auth(&staff.clerk.token)
        .json(&json!({ "level": "very_satisfied" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT, "ALREADY_RATED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("只能评价一次"),
        "{problem}"
    );

    // The case shows its rating to its holder and the staff.
    let case = app.case_as(&citizen.token, &no).await;
    assert_eq!(case["rating"]["level"], "very_dissatisfied");
    assert_eq!(case["rating"]["follow_up"]["due_on"], expected_due.as_str());

    // Supervisors see the rating, its share and the follow-up.
    let (status, overview) = app.get_as(&staff.supervisor.token, "/api/v1/ratings").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["total"], 1);
    let shares = overview["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 5);
    let very_bad = shares
        .iter()
        .find(|s| s["level"] == "very_dissatisfied")
        .unwrap();
    assert_eq!(very_bad["count"], 1);
    assert_eq!(very_bad["percent"], "100.0%");
    assert_eq!(overview["ratings"][0]["application_no"], no.as_str());
    let (status, open) = app
        .get_as(&staff.supervisor.token, "/api/v1/follow-ups")
        .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let follow_up = open
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["application_no"] == no.as_str())
        .expect("the follow-up is open")
        .clone();
    assert_eq!(follow_up["due_on"], expected_due.as_str());
    assert_eq!(follow_up["working_days"], 5);
    assert_eq!(follow_up["overdue"], false);
    assert_eq!(follow_up["allowed_steps"], json!(["rectification"]));

    // Rectification first, then the call-back, then closing.
    let step = |step: &str| format!("/api/v1/follow-ups/{no}/{step}");
    let (status, problem) = app
        .post_as(
            &staff.supervisor.token,
            &step("call-back"),
            &json!({ "result": "satisfied" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "FOLLOW_UP_STATE_CONFLICT");
    let (status, problem) = app
        .post_as(&staff.supervisor.token, &step("rectification"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "NOTE_REQUIRED");
    let (status, view) = app
        .post_as(
            &staff.supervisor.token,
            &step("rectification"),
            &json!({ "note": "窗口增加一名工作人员，高峰期分流" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "rectified");
    let (status, view) = app
        .post_as(
            &staff.supervisor.token,
            &step("call-back"),
            &json!({ "result": "satisfied", "note": "电话回访，申请人表示满意" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "called_back");
    let (status, view) = app
        .post_as(&staff.supervisor.token, &step("close"), &Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "closed");
    assert!(view["closed_at"].is_string());
    let records: Vec<&str> = view["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(records, ["rectification", "call-back", "close"]);
    assert_eq!(view["records"][1]["result_label"], "申请人对整改满意");
    let (_, open) = app
        .get_as(&staff.supervisor.token, "/api/v1/follow-ups")
        .await;
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|f| f["application_no"] != no.as_str())
    );
    let (_, closed) = app
        .get_as(&staff.supervisor.token, "/api/v1/follow-ups?status=closed")
        .await;
    assert_eq!(closed[0]["application_no"], no.as_str());
    let (status, problem) = app
        .post_as(
            &staff.supervisor.token,
            &step("rectification"),
            &json!({ "note": "再整改" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "closed is final: {problem}");

    // One audit entry per transaction: the rating and each record; the
    // refused ratings (not ended, twice) are audited as refused.
    let rated = audit_entries(&app, &staff.supervisor.token, "case.rate").await;
    let succeeded: Vec<&Value> = rated
        .iter()
        .filter(|e| e["outcome"] == "succeeded")
        .collect();
    assert_eq!(succeeded.len(), 1, "{rated:?}");
    assert_eq!(succeeded[0]["detail"]["level"], "very_dissatisfied");
    assert!(
        !rated.iter().any(|e| e.to_string().contains("态度")),
        "no comment in the audit trail"
    );
    assert!(rated.iter().filter(|e| e["outcome"] == "refused").count() >= 3);
    let recorded = audit_entries(&app, &staff.supervisor.token, "follow_up.record").await;
    assert_eq!(
        recorded
            .iter()
            .filter(|e| e["outcome"] == "succeeded")
            .count(),
        3
    );
    app.stop().await;
}

#[tokio::test]
async fn a_window_clerk_records_a_rating_and_only_bad_ones_are_followed_up() {
    // A bureau that follows up within 3 working days.
    let db = TestDb::new().await;
    let services =
        db.services()
            .await
            .with_rating_settings(sscard::service::ratings::RatingSettings {
                follow_up_working_days: 3,
            });
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services).await;
    let staff = staff(&app).await;

    // A walk-in refused at the window: it has ended too.
    let id = id_number_for(403);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(403), "collected").await;
    let case = app
        .submit_as(
            &staff.clerk.token,
            &window_form(&id, "黄明", &card_number(403)),
        )
        .await;
    let refused_no = case["application_no"].as_str().unwrap().to_owned();
    app.act(
        &staff.clerk.token,
        &refused_no,
        "refuse",
        &json!({ "code": "FORM_ALTERED", "reason": "申请表有涂改，请重新填写" }),
        StatusCode::OK,
    )
    .await;
    // A supervisor is not a window clerk: the route refuses.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/applications/{refused_no}/rating")))
        .bearer_auth(&staff.supervisor.token)
        .json(&json!({ "level": "satisfied" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;
    let (status, rating) = app
        .post_as(
            &staff.clerk.token,
            &format!("/api/v1/applications/{refused_no}/rating"),
            &json!({ "level": "basically_satisfied" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rating}");
    assert_eq!(rating["channel"], "window");
    assert!(rating["follow_up"].is_null(), "not a bad rating: {rating}");

    // 不满意 is bad: followed up within the configured 3 working days.
    let (citizen, no) = finished_online_case(&app, &staff, 404).await;
    let expected_due = calendar_deadline(&app, 3).await;
    let (status, rating) = app
        .post_as(
            &staff.clerk.token,
            &format!("/api/v1/applications/{no}/rating"),
            &json!({ "level": "dissatisfied", "comment": "  " }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rating}");
    assert!(rating["comment"].is_null(), "a blank comment is none");
    assert_eq!(rating["follow_up"]["due_on"], expected_due.as_str());
    // The holder sees the window rating in their account and cannot rate again.
    let case = app.case_as(&citizen.token, &no).await;
    assert_eq!(case["rating"]["level_label"], "不满意");
    let (status, _) = app
        .post_as(
            &citizen.token,
            &format!("/api/v1/applications/{no}/rating"),
            &json!({ "level": "very_satisfied" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, overview) = app.get_as(&staff.supervisor.token, "/api/v1/ratings").await;
    assert_eq!(overview["total"], 2);
    let permille: u64 = overview["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["permille"].as_u64().unwrap())
        .sum();
    assert_eq!(permille, 1000);
    let (_, follow_ups) = app
        .get_as(&staff.supervisor.token, "/api/v1/follow-ups?status=all")
        .await;
    assert_eq!(follow_ups.as_array().unwrap().len(), 1, "{follow_ups}");
    assert_eq!(follow_ups[0]["working_days"], 3);
    // Administrators read, but only supervisors record.
    let admin = app.staff("rating.admin", &["admin"]).await;
    let (status, _) = app.get_as(&admin.token, "/api/v1/follow-ups").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_as(
            &admin.token,
            &format!("/api/v1/follow-ups/{no}/rectification"),
            &json!({ "note": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn of_many_simultaneous_ratings_one_counts() {
    let app = TestApp::spawn().await;
    let staff = staff(&app).await;
    let (citizen, no) = finished_online_case(&app, &staff, 405).await;
    let path = format!("/api/v1/applications/{no}/rating");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = app.client.clone();
        let url = app.url(&path);
        let token = if i % 2 == 0 {
            citizen.token.clone()
        } else {
            staff.clerk.token.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "level": "very_dissatisfied" }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let (_, follow_ups) = app
        .get_as(&staff.supervisor.token, "/api/v1/follow-ups?status=all")
        .await;
    assert_eq!(follow_ups.as_array().unwrap().len(), 1, "one follow-up");
    app.stop().await;
}

#[tokio::test]
async fn the_pages_rate_escape_the_comment_and_follow_up() {
    let app = TestApp::spawn().await;
    let staff = staff(&app).await;
    let (citizen, no) = finished_online_case(&app, &staff, 406).await;
    // The cardholder's case page offers the five levels.
    let page = app
        .client
        .get(app.url(&format!("/my/cases/{no}")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for label in ["非常满意", "满意", "基本满意", "不满意", "非常不满意"] {
        assert!(
            html.contains(&format!("> {label}</label>")),
            "{label} in {html}"
        );
    }
    assert!(html.contains(&format!(r#"action="/my/cases/{no}/rating""#)));
    let origin = app.url("");
    let rated = app
        .client
        .post(app.url(&format!("/my/cases/{no}/rating")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("level", "very_dissatisfied"),
            ("comment", "<script>alert('x')</script>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(rated.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url(&format!("/my/cases/{no}")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("&#60;script&#62;"), "escaped: {page}");
    assert!(!page.contains("<script>alert"), "never raw: {page}");
    assert!(!page.contains(&format!(r#"action="/my/cases/{no}/rating""#)));
    // A second post: the page says it was rated already.
    let again = app
        .client
        .post(app.url(&format!("/my/cases/{no}/rating")))
        .header("cookie", format!("sscard_session={}", citizen.token))
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("level", "satisfied")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("只能评价一次"));

    // The supervisors' page lists it, escaped, with the follow-up's forms.
    let ratings = app
        .client
        .get(app.url("/ratings"))
        .header(
            "cookie",
            format!("sscard_session={}", staff.supervisor.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ratings.status(), StatusCode::OK);
    let html = ratings.text().await.unwrap();
    assert!(html.contains(&format!(r#"id="follow-up-{no}""#)), "{html}");
    assert!(html.contains("&#60;script&#62;"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains(&format!(
        r#"action="/ratings/follow-ups/{no}/rectification""#
    )));
    // A window clerk may not open it.
    let denied = app
        .client
        .get(app.url("/ratings"))
        .header("cookie", format!("sscard_session={}", staff.clerk.token))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}
