//! No client mistake ever yields a 5xx: every route of the OpenAPI document,
//! called by every kind of caller with hostile path segments, hostile query
//! strings and bodies of the wrong shape, answers with a problem
//! (`application/problem+json`, a stable code, Chinese words a person can
//! act on) — never a server error, never an empty or an HTML error page.

mod common;

use common::cases::card_number;
use common::{TestApp, has_chinese};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What a path parameter may be replaced with: the kind of value the route
/// expects, then values no route expects.
fn path_values(param: &str, real_case: &str) -> Vec<String> {
    let usual = match param {
        "application_no" => real_case.to_owned(),
        "version" => "44".to_owned(),
        "year" => "2026".to_owned(),
        "card_number" => card_number(1),
        "code" => "ICBC".to_owned(),
        "batch_no" => "PL-20261127-000001".to_owned(),
        "action" => "accept".to_owned(),
        "upload_id" => "5f0c8a52-3f7c-4d35-9d0e-2b1f4f6c9a01".to_owned(),
        "consultation_no" => "ZX-20261127-000001".to_owned(),
        "step" => "rectification".to_owned(),
        "verification_code" => "7K3M9QX2TB4HWZ8C".to_owned(),
        _ => "nobody".to_owned(),
    };
    vec![
        usual,
        // Chinese, percent-encoded as a browser sends it.
        "%E4%B8%AD%E6%96%87".to_owned(),
        "x".repeat(300),
        "-1".to_owned(),
        "99999999999999999999999".to_owned(),
        "%00".to_owned(),
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "%F0%A0%88%8C".to_owned(),
    ]
}

/// Bodies of every wrong shape, and one of the right shape with hostile
/// values under the field names the API uses.
fn bodies() -> Vec<Value> {
    let names = [
        "application_no",
        "id_number",
        "name",
        "card_number",
        "mobile",
        "note",
        "level",
        "comment",
        "materials",
        "delivery",
        "username",
        "password",
        "current_password",
        "new_password",
        "totp",
        "roles",
        "display_name",
        "bins",
        "code",
        "status",
        "reason",
        "opinion",
        "query",
        "question",
        "answer",
        "channel",
        "agent",
        "guardian",
        "presenter",
        "holder_present",
        "id_verified_by",
        "collected_by",
        "carrier",
        "waybill_no",
        "change",
        "step",
        "content",
        "api_public_key",
        "contact_name",
        "contact_phone",
        "postal_address",
        "received_at",
        "service",
    ];
    let wrong_types: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = match i % 5 {
                0 => json!(12345),
                1 => json!([1, "two", null]),
                2 => json!({ "nested": { "deeper": [true] } }),
                3 => json!(true),
                _ => json!(-1.5e300),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    let hostile_strings: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let value = match i % 4 {
                0 => "字".repeat(20_000),
                1 => "\u{202e}\u{feff}\r\n\t\u{7}\u{1b}[31m".to_owned(),
                2 => "'; DROP TABLE cases; --".to_owned(),
                _ => "𠈌".repeat(50),
            };
            ((*name).to_owned(), json!(value))
        })
        .collect();
    let nul: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), json!("黄\u{0}明")))
        .collect();
    vec![
        json!({}),
        json!([]),
        json!("just a string"),
        json!(null),
        json!(0),
        Value::Object(wrong_types),
        Value::Object(hostile_strings),
        Value::Object(nul),
    ]
}

/// The query strings a GET is also tried with.
const HOSTILE_QUERIES: [&str; 3] = [
    "?page=-1&limit=999999999999&offset=-5&per_page=0",
    "?state=%00&start=not-a-date&working_days=-3&q=%E4%B8%AD&status=%F0%9F%98%80",
    "?start=2026-02-30&working_days=99999999999&year=0&from=9999-99-99&to=x",
];

/// Reads an answer, asserting it is not a server error: its status,
/// content type and text.
async fn answer(response: reqwest::Response, what: &str) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    assert!(
        !status.is_server_error(),
        "{what} → {status}: {}",
        text.chars().take(400).collect::<String>()
    );
    (status, content_type, text)
}

/// Asserts a response is not a server error and, when it refuses, is a
/// problem a person can act on.
async fn check(response: reqwest::Response, what: &str) -> StatusCode {
    let (status, content_type, text) = answer(response, what).await;
    if status.is_client_error() {
        assert!(
            content_type.starts_with("application/problem+json"),
            "{what} → {status} is not a problem ({content_type}): {}",
            text.chars().take(400).collect::<String>()
        );
        let problem: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what} → {status}: not JSON ({e}): {text}"));
        let code = problem["code"].as_str().unwrap_or("");
        assert!(
            !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{what} → {status}: code {code:?} in {problem}"
        );
        let words = format!(
            "{}{}",
            problem["title"].as_str().unwrap_or(""),
            problem["detail"].as_str().unwrap_or("")
        );
        assert!(has_chinese(&words), "{what} → {status}: {problem}");
    }
    status
}

/// Every `{param}` of `path` replaced: first all with their usual values,
/// then each parameter in turn with each hostile value.
fn concrete_paths(path: &str, real_case: &str) -> Vec<String> {
    let params: Vec<String> = path
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();
    let usual = |p: &str| path_values(p, real_case)[0].clone();
    let fill = |hostile: Option<(&str, &str)>| {
        let mut concrete = path.to_owned();
        for param in &params {
            let value = match hostile {
                Some((name, value)) if name == param => value.to_owned(),
                _ => usual(param),
            };
            concrete = concrete.replace(&format!("{{{param}}}"), &value);
        }
        concrete
    };
    let mut all = vec![fill(None)];
    for param in &params {
        for value in path_values(param, real_case).iter().skip(1) {
            all.push(fill(Some((param, value))));
        }
    }
    all
}

/// The server with a real case (so that hostile input reaches the rules of
/// a real one) and a session of every kind: (name, token) with `None` for
/// the anonymous caller, and the case's number.
async fn world() -> (TestApp, Vec<(&'static str, Option<String>)>, String) {
    let app = TestApp::spawn().await;
    app.register_test_banks().await;
    let citizen = app.cardholder_numbered(1, "collected").await;
    let real_case = app.apply_online(&citizen, &card_number(1)).await;
    let clerk = app
        .staff(
            "robust.all",
            &["acceptor", "processor", "feedback", "supervisor", "admin"],
        )
        .await;
    let teller = app.staff("robust.teller", &["bank_teller"]).await;
    let employer = app.staff("robust.employer", &["employer"]).await;
    let callers = vec![
        ("anonymous", None),
        ("clerk", Some(clerk.token)),
        ("citizen", Some(citizen.token)),
        ("teller", Some(teller.token)),
        ("employer", Some(employer.token)),
    ];
    (app, callers, real_case)
}

#[tokio::test]
async fn every_route_answers_hostile_input_with_a_problem_never_a_server_error() {
    let (app, callers, real_case) = world().await;

    let (_, doc) = app.get_json("/api/openapi.json").await;
    let mut routes: Vec<(Method, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| {
                    (
                        Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                        path.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // Sign-outs last, so the sessions live through the walk.
    routes.sort_by_key(|(method, _)| *method == Method::DELETE);
    assert!(
        routes.len() > 60,
        "the walk covers the API: {}",
        routes.len()
    );

    let bodies = bodies();
    let mut seen: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for (method, path) in &routes {
        for url_path in concrete_paths(path, &real_case) {
            for (caller, token) in &callers {
                let hostile_bodies = *caller == "clerk" || *caller == "citizen";
                let send = |request: reqwest::RequestBuilder| match token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                };
                if *method == Method::GET {
                    for query in std::iter::once("").chain(HOSTILE_QUERIES) {
                        let url = app.url(&format!("{url_path}{query}"));
                        let response = send(app.client.get(&url)).send().await.unwrap();
                        let status =
                            check(response, &format!("{caller} GET {url_path}{query}")).await;
                        *seen.entry(status.as_u16()).or_default() += 1;
                    }
                    continue;
                }
                let chosen: &[Value] = if hostile_bodies {
                    &bodies
                } else {
                    &bodies[..1]
                };
                for body in chosen {
                    let response = send(app.client.request(method.clone(), app.url(&url_path)))
                        .json(body)
                        .send()
                        .await
                        .unwrap();
                    let shown: String = body.to_string().chars().take(80).collect();
                    let status =
                        check(response, &format!("{caller} {method} {url_path} {shown}")).await;
                    *seen.entry(status.as_u16()).or_default() += 1;
                }
                if hostile_bodies {
                    // Not JSON at all, under the JSON content type and another.
                    for (content_type, raw) in [
                        ("application/json", "{\"unterminated\": [1, 2"),
                        ("text/plain", "hello"),
                        ("multipart/form-data; boundary=x", "--x\r\nbroken"),
                    ] {
                        let response = send(app.client.request(method.clone(), app.url(&url_path)))
                            .header(reqwest::header::CONTENT_TYPE, content_type)
                            .body(raw)
                            .send()
                            .await
                            .unwrap();
                        let status = check(
                            response,
                            &format!("{caller} {method} {url_path} as {content_type}"),
                        )
                        .await;
                        *seen.entry(status.as_u16()).or_default() += 1;
                    }
                }
            }
        }
    }
    // The walk reached the handlers and their rules, not only the gates.
    let requests: usize = seen.values().sum();
    assert!(requests > 5_000, "{requests} requests: {seen:?}");
    for status in [200, 400, 401, 403, 404, 409, 413, 415, 422] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }

    // The server is still healthy and the audit chain intact.
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let report = app.db().services().await.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    app.stop().await;
}

/// The pages (routers in `src/http/pages/`), with the methods they answer.
const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/signout",
    "/password",
    "/workbench",
    "/admin/accounts",
    "/admin/accounts/{username}",
    "/admin/accounts/{username}/disable",
    "/admin/accounts/{username}/enable",
    "/admin/accounts/{username}/roles",
    "/admin/accounts/{username}/reset-password",
    "/audit",
    "/bank",
    "/admin/banks",
    "/admin/banks/{code}",
    "/admin/banks/{code}/requeue",
    "/employer",
    "/employer/batches",
    "/employer/batches/{batch_no}",
    "/employer/batches/{batch_no}/supplement",
    "/batches",
    "/batches/{batch_no}",
    "/batches/{batch_no}/{action}",
    "/cases",
    "/cases/find",
    "/cases/new",
    "/cases/{application_no}",
    "/cases/{application_no}/rating",
    "/cases/{application_no}/{action}",
    "/cases/{application_no}/materials/{code}",
    "/cases/{application_no}/delivery-status",
    "/cases/{application_no}/slip.pdf",
    "/my/signin",
    "/my/signin/code",
    "/my",
    "/my/apply",
    "/my/cases/{application_no}",
    "/my/cases/{application_no}/supplement",
    "/my/cases/{application_no}/rating",
    "/my/cases/{application_no}/slip.pdf",
    "/my/uploads/{upload_id}",
    "/consult",
    "/my/consultations",
    "/consultations",
    "/consultations/{consultation_no}",
    "/consultations/{consultation_no}/answer",
    "/progress",
    "/progress/consultation",
    "/ratings",
    "/ratings/follow-ups/{application_no}/{step}",
    "/staff/cards",
    "/verify",
    "/verify/upload",
    "/verify/{verification_code}",
    // Sign-outs last, so the sessions live through the walk.
    "/my/signout",
];

/// Asserts a page answer is not a server error and, when it refuses, is a
/// Chinese page (or a problem, for the few JSON answers).
async fn check_page(response: reqwest::Response, what: &str) -> StatusCode {
    let (status, content_type, text) = answer(response, what).await;
    if status.is_client_error() {
        assert!(
            (content_type.starts_with("text/html")
                || content_type.starts_with("application/problem+json"))
                && has_chinese(&text),
            "{what} → {status} ({content_type}) says nothing a person can read: {}",
            text.chars().take(400).collect::<String>()
        );
    }
    status
}

#[tokio::test]
async fn every_page_answers_hostile_input_with_a_chinese_page_never_a_server_error() {
    let (app, callers, real_case) = world().await;
    let origin = app.url("");
    let long = "字".repeat(2_000);
    let forms: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![
            ("card_number", "黄\u{0}明"),
            ("note", "\u{0}"),
            ("query", "\u{0}"),
            ("name", "\u{0}"),
            ("username", "\u{0}"),
        ],
        vec![
            ("id_number", long.as_str()),
            ("name", "𠈌𠈌𠈌"),
            ("query", "'; DROP TABLE cases; --"),
            ("level", "extremely"),
            ("comment", "\u{202e}\u{feff}"),
            ("materials", "x"),
            ("code", "%%%"),
            ("status", "-1"),
            ("roles", "root"),
            ("password", ""),
            ("collected_by", "nobody"),
            ("question", long.as_str()),
            ("answer", long.as_str()),
            ("card_number", "A1234567"),
            ("note", "好"),
            ("change", "teleported"),
            ("step", "x"),
            ("channel", "telepathy"),
            ("presenter", "robot"),
            ("holder_present", "maybe"),
            ("id_verified_by", "vibes"),
        ],
    ];
    let mut seen: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for page in PAGES {
        for url_path in concrete_paths(page, &real_case) {
            for (caller, token) in &callers {
                let with_session = |request: reqwest::RequestBuilder| match token {
                    Some(token) => request.header("cookie", format!("sscard_session={token}")),
                    None => request,
                };
                for query in ["", "?state=x&page=-1&notice=%E4%B8%AD&q=%F0%A0%88%8C"] {
                    let url = app.url(&format!("{url_path}{query}"));
                    let response = with_session(app.client.get(&url)).send().await.unwrap();
                    let status =
                        check_page(response, &format!("{caller} GET {url_path}{query}")).await;
                    *seen.entry(status.as_u16()).or_default() += 1;
                }
                for form in &forms {
                    let response = with_session(app.client.post(app.url(&url_path)))
                        .header("origin", &origin)
                        .header("sec-fetch-site", "same-origin")
                        .form(form)
                        .send()
                        .await
                        .unwrap();
                    let what = format!("{caller} POST {url_path} {:?}", form.first());
                    let status = check_page(response, &what).await;
                    *seen.entry(status.as_u16()).or_default() += 1;
                }
            }
        }
    }
    let requests: usize = seen.values().sum();
    assert!(requests > 3_000, "{requests} requests: {seen:?}");
    for status in [200, 303, 400, 403, 404, 422] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let report = app.db().services().await.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn hostile_employee_lists_are_refused_or_processed_never_a_server_error() {
    use common::batches::{account, post_batch, report_rows, uscc, wait_for};

    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let base = app.url("");
    let employer_uscc = uscc(1);
    let employer = account(
        &app.client,
        &base,
        &services,
        "hostile.employer",
        &["employer"],
        Some(&employer_uscc),
    )
    .await;
    let clerk = account(
        &app.client,
        &base,
        &services,
        "hostile.clerk",
        &["acceptor", "processor", "feedback"],
        None,
    )
    .await;
    let long = "字".repeat(5_000);
    let lists: Vec<(&str, Vec<u8>)> =
        vec![
        (
            "nul.csv",
            "姓名,身份证号,卡号\n黄\0明,450221199001011234,A1234\u{0}567\n\0,\0,\0\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "long.csv",
            format!("姓名,身份证号,卡号\n{long},{long},{long}\n").into_bytes(),
        ),
        (
            "controls.csv",
            "姓名,身份证号,卡号\n\u{202e}黄明\u{7},'; DROP TABLE cases; --,=cmd|' /C calc'!A0\n"
                .as_bytes()
                .to_vec(),
        ),
        ("empty.csv", Vec::new()),
        ("header-only.csv", "姓名,身份证号,卡号\n".as_bytes().to_vec()),
        ("random.xlsx", (0..4096_u32).map(|i| (i * 7919 % 251) as u8).collect()),
        ("zip-not-xlsx.xlsx", b"PK\x03\x04\x14\x00\x00\x00garbage".to_vec()),
        ("binary.csv", vec![0xff, 0xfe, 0x00, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0x0a]),
        ("no-extension", b"a,b,c\n1,2,3\n".to_vec()),
    ];
    let mut processed = 0;
    for (name, list) in lists {
        let (status, body) = post_batch(&app.client, &base, &employer, name, list, None).await;
        assert!(!status.is_server_error(), "{name} → {status}: {body}");
        if status.is_client_error() {
            assert!(
                body["code"].as_str().is_some_and(|c| !c.is_empty())
                    && has_chinese(body["detail"].as_str().unwrap_or("")),
                "{name} → {status}: {body}"
            );
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        // Accepted lists are processed row by row to the end, and reported.
        let no = body["batch_no"]
            .as_str()
            .expect("a batch number")
            .to_owned();
        let response = app
            .client
            .post(app.url(&format!("/api/v1/batches/{no}/accept")))
            .bearer_auth(&clerk)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            !response.status().is_server_error(),
            "{name}: accept {}",
            response.status()
        );
        if response.status() != StatusCode::OK {
            continue;
        }
        let done = wait_for(&app.client, &base, &clerk, &no, 60, |b| {
            b["state"] == "awaiting_feedback"
        })
        .await;
        assert_eq!(done["progress"]["percent"], 100, "{name}: {done}");
        let report = app
            .client
            .get(app.url(&format!("/api/v1/batches/{no}/report.xlsx")))
            .bearer_auth(&clerk)
            .send()
            .await
            .unwrap();
        assert_eq!(report.status(), StatusCode::OK, "{name}");
        let rows = report_rows(&report.bytes().await.unwrap());
        assert!(rows.iter().all(|row| row[4] == "失败"), "{name}: {rows:?}");
        processed += 1;
    }
    assert!(processed >= 2, "the readable hostile lists were processed");
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}
