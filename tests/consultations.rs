//! 互联网咨询: a question asked without signing in is read back only with
//! its number and access code (every wrong pair answered alike, the look-up
//! rate-limited); a cardholder's question only in their account; staff answer
//! once on the workbench, audited — on SQLite and, with
//! `SSCARD_TEST_POSTGRES_URL`, on PostgreSQL.

mod common;

use common::{TestApp, TestDb, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A problem body without its request id (which differs per request).
fn without_request_id(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.remove("request_id");
    }
    body
}

#[tokio::test]
async fn an_anonymous_question_is_read_only_with_its_number_and_code() {
    let app = TestApp::spawn().await;
    let question = "社会保障卡的金融功能可以请家人代为激活吗？<b>急</b>";
    let (status, asked) = app
        .post_json("/api/v1/consultations", &json!({ "question": question }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    let no = asked["consultation_no"].as_str().unwrap().to_owned();
    let code = asked["access_code"].as_str().unwrap().to_owned();
    assert!(no.starts_with("ZX-"), "{no}");
    assert_eq!(code.len(), 11, "two groups of five: {code}");
    let (status, other) = app
        .post_json(
            "/api/v1/consultations",
            &json!({ "question": "请问启用要带哪些材料？" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let other_code = other["access_code"].as_str().unwrap().to_owned();
    assert_ne!(other_code, code);

    // The right pair, as typed (lower case, spaces).
    let typed = code.to_lowercase().replace('-', " ");
    let (status, view) = app
        .post_json(
            "/api/v1/consultations/lookup",
            &json!({ "consultation_no": no.to_lowercase(), "access_code": typed }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["question"], question);
    assert_eq!(view["status"], "open");
    assert!(view["answered_by"].is_null(), "staff names stay inside");

    // Every wrong pair gets the very same answer.
    let mut refusals = Vec::new();
    for body in [
        json!({ "consultation_no": no, "access_code": other_code }),
        json!({ "consultation_no": "ZX-20261127-999999", "access_code": code }),
        json!({ "consultation_no": no, "access_code": "not-a-code" }),
        json!({ "consultation_no": other["consultation_no"], "access_code": code }),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/consultations/lookup"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem =
            assert_problem(response, StatusCode::NOT_FOUND, "CONSULTATION_NOT_FOUND").await;
        refusals.push(without_request_id(problem));
    }
    assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");

    // Staff answer once; the asker reads the answer.
    let clerk = app.staff("consult.clerk", &["acceptor"]).await;
    let (status, queue) = app.get_as(&clerk.token, "/api/v1/consultations").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!(queue.as_array().unwrap().len(), 2);
    assert_eq!(queue[0]["consultation_no"], no.as_str(), "oldest first");
    assert_eq!(queue[0]["asked_via"], "匿名（凭查询码查看答复）");
    let answer_path = format!("/api/v1/consultations/{no}/answer");
    let (status, problem) = app
        .post_as(&clerk.token, &answer_path, &json!({ "answer": "" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let answer = "不可以。金融功能须由持卡人本人携带身份证原件到合作银行柜台激活。";
    let (status, answered) = app
        .post_as(&clerk.token, &answer_path, &json!({ "answer": answer }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["status"], "answered");
    let (status, problem) = app
        .post_as(&clerk.token, &answer_path, &json!({ "answer": "再答一次" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "ALREADY_ANSWERED");
    let (_, view) = app
        .post_json(
            "/api/v1/consultations/lookup",
            &json!({ "consultation_no": no, "access_code": code }),
        )
        .await;
    assert_eq!(view["answer"], answer);
    assert_eq!(view["status"], "answered");
    let (_, queue) = app.get_as(&clerk.token, "/api/v1/consultations").await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "one left to answer");
    let (_, answered) = app
        .get_as(&clerk.token, "/api/v1/consultations?status=answered")
        .await;
    assert_eq!(answered[0]["consultation_no"], no.as_str());

    // Audited: the questions and the answer, without their text.
    let supervisor = app.staff("consult.supervisor", &["supervisor"]).await;
    let (_, audit) = app
        .get_as(
            &supervisor.token,
            "/api/v1/audit?action=consultation.answer",
        )
        .await;
    let entries = audit["entries"].as_array().unwrap();
    let succeeded: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "succeeded")
        .collect();
    assert_eq!(succeeded.len(), 1, "{audit}");
    assert_eq!(succeeded[0]["detail"]["consultation_no"], no.as_str());
    let (_, audit) = app
        .get_as(&supervisor.token, "/api/v1/audit?action=consultation.ask")
        .await;
    assert_eq!(audit["total"], 2);
    assert!(!audit.to_string().contains("金融功能"), "{audit}");
    app.stop().await;
}

#[tokio::test]
async fn a_cardholders_question_is_theirs_alone() {
    let app = TestApp::spawn().await;
    let holder = app.citizen("45022119900101301", "韦一").await;
    let other = app.citizen("45022119900101312", "韦二").await;
    let (status, asked) = app
        .post_as(
            &holder.token,
            "/api/v1/citizen/consultations",
            &json!({ "question": "我的卡已经挂失了，还能启用吗？" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert!(
        asked["access_code"].is_null(),
        "read in the account instead"
    );
    let no = asked["consultation_no"].as_str().unwrap().to_owned();

    let (_, mine) = app
        .get_as(&holder.token, "/api/v1/citizen/consultations")
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["consultation_no"], no.as_str());
    let (_, theirs) = app
        .get_as(&other.token, "/api/v1/citizen/consultations")
        .await;
    assert_eq!(theirs, json!([]), "another cardholder sees none of it");
    // No code reads it, not even a well-formed guess.
    let (status, problem) = app
        .post_json(
            "/api/v1/consultations/lookup",
            &json!({ "consultation_no": no, "access_code": "ABCDE-23456" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    // Staff tokens do not open the cardholder's list.
    let clerk = app.staff("consult.window", &["feedback"]).await;
    let (status, _) = app
        .get_as(&clerk.token, "/api/v1/citizen/consultations")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, view) = app
        .get_as(&clerk.token, &format!("/api/v1/consultations/{no}"))
        .await;
    assert_eq!(view["asked_via"], "网上办事账户");
    app.post_as(
        &clerk.token,
        &format!("/api/v1/consultations/{no}/answer"),
        &json!({ "answer": "挂失状态的卡不能启用，请先解挂或补换卡。" }),
    )
    .await;
    let (_, mine) = app
        .get_as(&holder.token, "/api/v1/citizen/consultations")
        .await;
    assert_eq!(
        mine[0]["answer"],
        "挂失状态的卡不能启用，请先解挂或补换卡。"
    );

    // The account page shows it; the form posts a new one.
    let page = app
        .client
        .get(app.url("/my/consultations"))
        .header("cookie", format!("sscard_session={}", holder.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("挂失状态的卡不能启用"), "{page}");
    assert!(
        page.contains("是否需要本人办理？"),
        "the guide's FAQ: {page}"
    );
    let posted = app
        .client
        .post(app.url("/my/consultations"))
        .header("cookie", format!("sscard_session={}", holder.token))
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("question", "短")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(posted.text().await.unwrap().contains("至少 5 个字"));
    app.stop().await;
}

#[tokio::test]
async fn the_public_page_shows_the_faq_first_and_the_answer_on_the_progress_page() {
    let app = TestApp::spawn().await;
    let page = app.get("/consult").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let faq = html.find("是否需要本人办理？").expect("the guide's FAQ");
    let form = html.find(r#"action="/consult""#).expect("the form");
    assert!(faq < form, "the FAQ comes first");

    let origin = app.url("");
    let asked = app
        .client
        .post(app.url("/consult"))
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("question", "启用社会保障卡需要本人到场吗？")])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    let html = asked.text().await.unwrap();
    let grab = |id: &str| -> String {
        let start = html.find(&format!(r#"id="{id}""#)).expect(id);
        let rest = &html[start..];
        let open = rest.find("<strong>").unwrap() + "<strong>".len();
        let close = rest.find("</strong>").unwrap();
        rest[open..close].to_owned()
    };
    let no = grab("consultation-no");
    let code = grab("access-code");
    assert!(no.starts_with("ZX-") && code.len() == 11, "{no} {code}");

    let clerk = app.staff("consult.page", &["processor"]).await;
    app.post_as(
        &clerk.token,
        &format!("/api/v1/consultations/{no}/answer"),
        &json!({ "answer": "社保功能可由受委托人代办，金融功能须本人办理。" }),
    )
    .await;
    let read = |access_code: String| {
        let client = app.client.clone();
        let url = app.url("/progress/consultation");
        let origin = origin.clone();
        let no = no.clone();
        async move {
            let response = client
                .post(url)
                .header("origin", origin)
                .header("sec-fetch-site", "same-origin")
                .form(&[
                    ("consultation_no", no.as_str()),
                    ("access_code", access_code.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, html) = read(code.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("社保功能可由受委托人代办"), "{html}");
    let (status, html) = read("ABCDE-23456".to_owned()).await;
    assert_eq!(status, StatusCode::OK, "a wrong pair is an answer");
    assert!(
        html.contains("未找到与所填咨询编号和查询码相符的咨询"),
        "{html}"
    );
    assert!(!html.contains("社保功能可由受委托人代办"));
    // The staff's queue page, for window clerks, not for bank tellers.
    let queue = app
        .client
        .get(app.url(&format!("/consultations/{no}")))
        .header("cookie", format!("sscard_session={}", clerk.token))
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), StatusCode::OK);
    let teller = app.staff("consult.teller", &["bank_teller"]).await;
    let denied = app
        .client
        .get(app.url("/consultations"))
        .header("cookie", format!("sscard_session={}", teller.token))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn guessing_access_codes_and_asking_are_rate_limited() {
    // Production limits: the look-up shares the progress query's budget.
    let app = TestApp::spawn_with(TestDb::new().await, sscard::http::HttpConfig::default()).await;
    let body = json!({ "consultation_no": "ZX-20261127-000001", "access_code": "ABCDE-23456" });
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let (status, _) = app.post_json("/api/v1/consultations/lookup", &body).await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::NOT_FOUND);
    assert_eq!(statuses[99], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");

    // Asking without signing in has its own, smaller budget: five at once.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, _) = app
            .post_json(
                "/api/v1/consultations",
                &json!({ "question": format!("第{i}个问题：启用要多久？") }),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses[..5],
        [StatusCode::CREATED; 5],
        "the progress budget spent above does not count: {statuses:?}"
    );
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}
