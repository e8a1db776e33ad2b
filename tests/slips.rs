//! The 业务反馈单 over the API: issued once for an ended case, to the
//! cardholder and to staff only, the same bytes on every download; verified
//! genuine by code and by file, not genuine when altered or invented; signed
//! so that anyone can check it with the published key; a missing font
//! answered 503; a production key from a file, with earlier slips still
//! verifying — on SQLite and, with `SSCARD_TEST_POSTGRES_URL`, PostgreSQL.

mod common;

use common::cases::{PDF_SCAN, PNG_SCAN, card_number, id_number_for, online_form, window_form};
use common::{CitizenSignedIn, TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::service::slips::{SlipSettings, canonical_json};
use sscard::slip::fonts::FontSpec;

/// The slip as `token` downloads it.
async fn slip(app: &TestApp, token: &str, no: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/applications/{no}/slip.pdf")))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET the slip")
}

/// Downloads the slip, asserting a PDF; gives its bytes and the code header.
async fn slip_bytes(app: &TestApp, token: &str, no: &str) -> (Vec<u8>, String) {
    let response = slip(app, token, no).await;
    assert_eq!(response.status(), StatusCode::OK, "the slip of {no}");
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains(&format!("slip-{no}.pdf")),
        "{disposition}"
    );
    let code = response.headers()["x-verification-code"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF");
    (bytes, code)
}

async fn verify_file(app: &TestApp, content_type: &str, bytes: Vec<u8>) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/slips/verify"))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// An online application with the form's scan, accepted, approved and
/// delivered; gives the application number.
async fn completed_online_case(app: &TestApp, citizen: &CitizenSignedIn, n: u32) -> String {
    let clerk = app
        .staff(&format!("clerk{n}"), &["acceptor", "processor", "feedback"])
        .await;
    let upload = app.upload_as(&citizen.token, "申请表.png", PNG_SCAN).await;
    let mut form = online_form(citizen, &card_number(n));
    form["materials"] = json!([{ "code": "application_form", "upload_id": upload }]);
    let no = app.submit_as(&citizen.token, &form).await["application_no"]
        .as_str()
        .unwrap()
        .to_owned();
    for action in ["accept", "approve", "deliver"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }
    no
}

/// How many audit entries of `action` there are.
async fn audit_count(app: &TestApp, token: &str, action: &str) -> u64 {
    let (status, page) = app
        .get_as(token, &format!("/api/v1/audit?action={action}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_slip_is_issued_once_for_an_ended_case_and_verifies_as_genuine() {
    let app = TestApp::spawn().await;
    // 𪚥 is not in Noto Sans CJK: it comes from the fallback font.
    let citizen = app
        .cardholder("45022119900101123", "韦国𪚥", &card_number(1), "collected")
        .await;
    let clerk = app
        .staff("window.wei", &["acceptor", "processor", "feedback"])
        .await;
    let supervisor = app.staff("supervisor.li", &["supervisor"]).await;
    let other = app
        .cardholder("45022119900101131", "蒙小", &card_number(2), "collected")
        .await;

    // Not before the case has ended.
    let upload = app.upload_as(&citizen.token, "申请表.png", PNG_SCAN).await;
    let mut form = online_form(&citizen, &card_number(1));
    form["materials"] = json!([{ "code": "application_form", "upload_id": upload }]);
    let no = app.submit_as(&citizen.token, &form).await["application_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let problem = assert_problem(
        slip(&app, &citizen.token, &no).await,
        StatusCode::CONFLICT,
        "SLIP_NOT_AVAILABLE",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("待受理"),
        "{problem}"
    );
    app.act(&clerk.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    app.act(&clerk.token, &no, "approve", &Value::Null, StatusCode::OK)
        .await;
    assert_problem(
        slip(&app, &clerk.token, &no).await,
        StatusCode::CONFLICT,
        "SLIP_NOT_AVAILABLE",
    )
    .await;
    app.act(&clerk.token, &no, "deliver", &Value::Null, StatusCode::OK)
        .await;

    // The cardholder's first download issues it; every later one, theirs or
    // staff's, gets the same bytes.
    let (pdf, code) = slip_bytes(&app, &citizen.token, &no).await;
    let (again, code_again) = slip_bytes(&app, &citizen.token, &no).await;
    let (staff_copy, _) = slip_bytes(&app, &supervisor.token, &no).await;
    assert_eq!(pdf, again, "the same bytes on the second download");
    assert_eq!(pdf, staff_copy, "staff get the same slip");
    assert_eq!(code, code_again);
    assert_eq!(code.len(), 16);
    assert_eq!(
        audit_count(&app, &supervisor.token, "slip.issue").await,
        1,
        "issued once, audited once"
    );

    // The pages link to it once the case has ended …
    for (token, page, link) in [
        (
            &citizen.token,
            format!("/my/cases/{no}"),
            format!("/my/cases/{no}/slip.pdf"),
        ),
        (
            &supervisor.token,
            format!("/cases/{no}"),
            format!("/cases/{no}/slip.pdf"),
        ),
    ] {
        let response = app
            .client
            .get(app.url(&page))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!("href=\"{link}\">下载业务反馈单</a>")),
            "{page} links to the slip"
        );
    }
    // … and the links give the same file.
    for (token, path) in [
        (&citizen.token, format!("/my/cases/{no}/slip.pdf")),
        (&supervisor.token, format!("/cases/{no}/slip.pdf")),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.bytes().await.unwrap().to_vec(), pdf, "{path}");
    }
    let response = app
        .client
        .get(app.url(&format!("/my/cases/{no}/slip.pdf")))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "another holder's");
    assert!(response.text().await.unwrap().contains("未找到"));

    // Someone else's case is not found; anonymous is not signed in.
    assert_problem(
        slip(&app, &other.token, &no).await,
        StatusCode::NOT_FOUND,
        "APPLICATION_NOT_FOUND",
    )
    .await;
    let anonymous = app
        .get(&format!("/api/v1/applications/{no}/slip.pdf"))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Genuine by code, as printed (grouped, lower case) or not.
    let grouped = format!(
        "{}-{}-{}-{}",
        &code[..4],
        &code[4..8],
        &code[8..12],
        &code[12..]
    );
    for asked in [code.clone(), grouped.to_lowercase()] {
        let (status, answer) = app.get_json(&format!("/api/v1/slips/{asked}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["genuine"], true, "{answer}");
        assert_eq!(answer["result"], "SLIP_GENUINE");
        assert_eq!(answer["verification_code"], code.as_str());
    }
    let (_, answer) = app.get_json(&format!("/api/v1/slips/{code}")).await;
    let certified = &answer["certified"];
    assert_eq!(certified["application_no"], no.as_str());
    assert_eq!(certified["item_code"], "002014010002");
    assert_eq!(
        certified["implementation_code"],
        "11450221007624051J4002014010002"
    );
    assert_eq!(certified["guide_version"], 44);
    assert_eq!(certified["result_label"], "已办结（准予启用）");
    assert_eq!(certified["applicant_name_masked"], "韦*𪚥");
    assert_eq!(certified["implementing_body"], "柳江区人力资源和社会保障局");
    let steps: Vec<&str> = certified["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action_label"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["提交申请", "受理", "准予启用", "送达结果"]);
    let shown = answer.to_string();
    assert!(
        !shown.contains(&citizen.id_number),
        "the ID number is masked"
    );
    assert!(!shown.contains("韦国"), "the name is masked");
    assert!(!shown.contains(&card_number(1)), "the card is masked");
    assert!(!shown.contains("window.wei"), "no sign-in names");

    // Anyone can check the signature with the published key: SM2 over
    // "sscard-slip-v1" LF canonical JSON LF SM3(PDF).
    let (status, keys) = app.get_json("/api/v1/slips/public-key").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["current"]["key_id"], answer["key_id"]);
    assert_eq!(keys["current"]["source"], "generated");
    let public = sscard_crypto::Sm2PublicKey::from_sec1_hex(
        keys["current"]["public_key_hex"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(answer["pdf_sm3"], sscard_crypto::sm3_hex(&pdf).as_str());
    let message = format!(
        "sscard-slip-v1\n{}\n{}",
        canonical_json(certified),
        sscard_crypto::sm3_hex(&pdf)
    );
    let signature = hex::decode(answer["signature"].as_str().unwrap()).unwrap();
    assert!(public.verify(message.as_bytes(), &signature));
    assert!(!public.verify(message.replace("韦*𪚥", "韦*明").as_bytes(), &signature));

    // Genuine by the file, sent as the body or as a form.
    let by_body = verify_file(&app, "application/pdf", pdf.clone()).await;
    assert_eq!(by_body["genuine"], true, "{by_body}");
    assert_eq!(by_body["verification_code"], code.as_str());
    let part = reqwest::multipart::Part::bytes(pdf.clone()).file_name("业务反馈单.pdf");
    let response = app
        .client
        .post(app.url("/api/v1/slips/verify"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let by_form: Value = response.json().await.unwrap();
    assert_eq!(by_form["genuine"], true, "{by_form}");

    // One changed byte (the code in the metadata intact): not genuine, and
    // what the real slip certifies is shown.
    let mut altered = pdf.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x20;
    let answer = verify_file(&app, "application/pdf", altered).await;
    assert_eq!(answer["genuine"], false, "{answer}");
    assert_eq!(answer["result"], "SLIP_ALTERED");
    assert_eq!(answer["certified"]["application_no"], no.as_str());
    assert_ne!(answer["uploaded_sm3"], answer["pdf_sm3"]);
    // A slip edited where it shows its code: no code, no such digest.
    let replaced = String::from_utf8_lossy(&pdf).replace(&code, "0000000000000000");
    let answer = verify_file(&app, "application/pdf", replaced.into_bytes()).await;
    assert_eq!(answer["genuine"], false, "{answer}");
    // Another PDF entirely.
    let answer = verify_file(&app, "application/pdf", PDF_SCAN.to_vec()).await;
    assert_eq!(answer["genuine"], false);
    assert_eq!(answer["result"], "SLIP_NOT_FOUND");
    assert!(answer["certified"].is_null());

    // An invented code and nonsense: the same shape, not genuine.
    for invented in ["7K3M9QX2TB4HWZ8C", "abc", "U0000000000000000"] {
        let (status, answer) = app.get_json(&format!("/api/v1/slips/{invented}")).await;
        assert_eq!(status, StatusCode::OK, "{invented}");
        assert_eq!(answer["genuine"], false, "{invented}: {answer}");
        assert_eq!(answer["result"], "SLIP_NOT_FOUND");
        assert!(answer["certified"].is_null());
        assert!(answer["message"].as_str().is_some_and(common::has_chinese));
    }

    // Wrong kinds of upload.
    let response = app
        .client
        .post(app.url("/api/v1/slips/verify"))
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let response = app
        .client
        .post(app.url("/api/v1/slips/verify"))
        .header("content-type", "application/pdf")
        .send()
        .await
        .unwrap();
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_refused_case_gets_a_slip_that_says_why() {
    let app = TestApp::spawn().await;
    let clerk = app
        .staff("window.lu", &["acceptor", "processor", "feedback"])
        .await;
    let outsider = id_number_for(3);
    app.register_person_enrolled(&outsider, "陆远", "450102", "contributing")
        .await;
    app.register_card(&outsider, &card_number(3), "collected")
        .await;
    let case = app
        .submit_as(
            &clerk.token,
            &window_form(&outsider, "陆远", &card_number(3)),
        )
        .await;
    let no = case["application_no"].as_str().unwrap();
    app.act(&clerk.token, no, "refuse", &Value::Null, StatusCode::OK)
        .await;
    let (_, code) = slip_bytes(&app, &clerk.token, no).await;
    let (_, answer) = app.get_json(&format!("/api/v1/slips/{code}")).await;
    assert_eq!(answer["genuine"], true, "{answer}");
    assert_eq!(answer["certified"]["status"], "refused");
    assert_eq!(answer["certified"]["result_label"], "不予受理");
    assert_eq!(
        answer["certified"]["outcome_code"],
        "NOT_INSURED_IN_LIUZHOU"
    );
    assert!(
        answer["certified"]["outcome_reason"]
            .as_str()
            .is_some_and(common::has_chinese),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_first_downloads_issue_one_slip() {
    let app = TestApp::spawn().await;
    let citizen = app.cardholder_numbered(7, "collected").await;
    let no = completed_online_case(&app, &citizen, 7).await;
    let supervisor = app.staff("supervisor.qin", &["supervisor"]).await;
    let downloads = (0..6).map(|i| {
        let token = if i % 2 == 0 {
            citizen.token.clone()
        } else {
            supervisor.token.clone()
        };
        let app = &app;
        let no = no.clone();
        async move { slip_bytes(app, &token, &no).await }
    });
    let slips = futures_join_all(downloads).await;
    for (bytes, code) in &slips {
        assert_eq!(bytes, &slips[0].0, "every download has the same bytes");
        assert_eq!(code, &slips[0].1);
    }
    assert_eq!(audit_count(&app, &supervisor.token, "slip.issue").await, 1);
    app.stop().await;
}

/// Runs the futures concurrently on this task.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs = Vec::new();
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    // Poll all of them together until each is done.
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for slot in &mut pending {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => {
                        outputs.push(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs
}

#[tokio::test]
async fn without_its_fonts_the_slip_is_refused_with_503_and_nothing_is_issued() {
    let db = common::TestDb::new().await;
    let services = db.services().await.with_slip_settings(SlipSettings {
        fonts: vec![FontSpec::parse("/nonexistent/NotoSansCJK-Regular.ttc#2").unwrap()],
        ..SlipSettings::default()
    });
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services).await;
    let citizen = app.cardholder_numbered(8, "collected").await;
    let no = completed_online_case(&app, &citizen, 8).await;
    let problem = assert_problem(
        slip(&app, &citizen.token, &no).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SLIP_FONTS_MISSING",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("scripts/setup.sh"), "{detail}");
    assert!(detail.contains("fonts-noto-cjk"), "{detail}");
    let supervisor = app.staff("supervisor.he", &["supervisor"]).await;
    assert_eq!(audit_count(&app, &supervisor.token, "slip.issue").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_production_key_from_a_file_signs_and_earlier_slips_still_verify() {
    let app = TestApp::spawn().await;
    let citizen = app.cardholder_numbered(9, "collected").await;
    let first = completed_online_case(&app, &citizen, 9).await;
    let (_, first_code) = slip_bytes(&app, &citizen.token, &first).await;
    let (_, keys) = app.get_json("/api/v1/slips/public-key").await;
    let generated = keys["current"]["key_id"].as_str().unwrap().to_owned();
    let db = app.stop().await;

    // The generated key survives a restart (it is in the database).
    let app = TestApp::spawn_on(db).await;
    let (_, keys) = app.get_json("/api/v1/slips/public-key").await;
    assert_eq!(keys["current"]["key_id"], generated.as_str());
    let db = app.stop().await;

    // Production: a key file (as `openssl genpkey -algorithm SM2` writes).
    let dir = tempfile::tempdir().unwrap();
    let key = sscard_crypto::Sm2SigningKey::generate();
    let key_file = dir.path().join("slip-signing.pem");
    std::fs::write(&key_file, key.to_pkcs8_pem().as_bytes()).unwrap();
    let services = db.services().await.with_slip_settings(SlipSettings {
        signing_key_file: Some(key_file),
        ..SlipSettings::default()
    });
    let app = TestApp::spawn_serving(db, TestApp::test_config(), services).await;
    let (_, keys) = app.get_json("/api/v1/slips/public-key").await;
    assert_eq!(
        keys["current"]["key_id"],
        key.public_key().key_id().as_str()
    );
    assert_eq!(keys["current"]["source"], "file");
    assert_eq!(keys["earlier"][0]["key_id"], generated.as_str());

    let citizen = app.cardholder_numbered(10, "collected").await;
    let second = completed_online_case(&app, &citizen, 10).await;
    let (_, second_code) = slip_bytes(&app, &citizen.token, &second).await;
    let (_, answer) = app.get_json(&format!("/api/v1/slips/{second_code}")).await;
    assert_eq!(answer["genuine"], true, "{answer}");
    assert_eq!(answer["key_id"], key.public_key().key_id().as_str());
    let (_, answer) = app.get_json(&format!("/api/v1/slips/{first_code}")).await;
    assert_eq!(
        answer["genuine"], true,
        "the earlier slip still verifies: {answer}"
    );
    assert_eq!(answer["key_id"], generated.as_str());
    app.stop().await;
}

#[tokio::test]
async fn guessing_codes_is_rate_limited() {
    // Production budgets: 30 verifications at once, then one every 2 s.
    let app = TestApp::spawn_with(
        common::TestDb::new().await,
        sscard::http::HttpConfig::default(),
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..40 {
        let response = app.get(&format!("/api/v1/slips/7K3M9QX2TB4HW{i:03}")).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
            break;
        }
    }
    assert!(
        statuses.len() > 30 && statuses[..30].iter().all(|s| *s == StatusCode::OK),
        "the first 30 are answered: {statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The upload route draws on the same budget.
    let response = app
        .client
        .post(app.url("/api/v1/slips/verify"))
        .header("content-type", "application/pdf")
        .body(PDF_SCAN.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}
