//! The role matrix: every route of the API against every role and anonymous.
//! A route without an entry here (or without a rule in `http::auth::rule`)
//! fails this test.

mod common;

use std::collections::BTreeMap;

use common::TestApp;
use reqwest::{Method, StatusCode};

/// Who may call a route: `None` = anyone; otherwise the roles (an empty list
/// = any signed-in account, even before the initial password is changed;
/// [`CITIZEN`] = a signed-in citizen, whom no staff route admits; a list
/// holding [`CITIZEN`] and roles = a citizen or an account with one of them).
fn expected(method: &str, path: &str) -> Option<Option<&'static [&'static str]>> {
    const ANY_ACCOUNT: &[&str] = &[];
    let access = match (method, path) {
        ("GET", "/healthz" | "/readyz")
        // The keys that verify the bureau's signed answers to banks.
        | ("GET", "/api/v1/bank/server-key")
        // Public to the router: the handler admits allowed addresses (the
        // test client's 127.0.0.1 by default) or the metrics token.
        | ("GET", "/metrics")
        | (
            "GET",
            "/api/v1/guide" | "/api/v1/guide/versions" | "/api/v1/guide/versions/{version}",
        )
        | (
            "GET",
            "/api/v1/calendar/deadline"
            | "/api/v1/calendar/years"
            | "/api/v1/calendar/years/{year}",
        )
        | (
            "POST",
            "/api/v1/identifiers/check"
            | "/api/v1/session"
            | "/api/v1/citizen/otp"
            | "/api/v1/citizen/session"
            // 办理进度查询: number, ID number and name must all match.
            | "/api/v1/progress"
            // 互联网咨询: asking, and reading the answer by number and code.
            | "/api/v1/consultations"
            | "/api/v1/consultations/lookup"
            // 业务反馈单真伪验证 by the PDF.
            | "/api/v1/slips/verify",
        )
        // 业务反馈单真伪验证 by code, and the bureau's public keys.
        | ("GET", "/api/v1/slips/{verification_code}" | "/api/v1/slips/public-key") => None,
        // 互联网咨询: the window clerks and supervisors answer (anyone asks
        // and reads the answer by number and code; a signed-in cardholder
        // asks and reads from their account).
        (
            "GET",
            "/api/v1/consultations" | "/api/v1/consultations/{consultation_no}",
        )
        | ("POST", "/api/v1/consultations/{consultation_no}/answer") => {
            Some(&["acceptor", "processor", "feedback", "supervisor"][..])
        }
        // The express delivery status after 送达: the 反馈岗.
        ("POST", "/api/v1/applications/{application_no}/delivery-status") => {
            Some(&["feedback"][..])
        }
        // The follow-ups of bad ratings: supervisors record.
        ("POST", "/api/v1/follow-ups/{application_no}/{step}") => Some(&["supervisor"][..]),
        ("GET" | "DELETE", "/api/v1/session") | ("POST", "/api/v1/session/password") => {
            Some(ANY_ACCOUNT)
        }
        ("GET" | "POST", "/api/v1/accounts")
        | ("POST", "/api/v1/accounts/{username}/disable" | "/api/v1/accounts/{username}/enable") => {
            Some(&["admin"][..])
        }
        ("POST", "/api/v1/accounts/{username}/reset-password")
        | ("PUT", "/api/v1/accounts/{username}/roles")
        | ("GET", "/api/v1/admin/sms-outbox")
        // The bank registry: administrators keep it.
        | ("POST", "/api/v1/banks" | "/api/v1/banks/{code}/requeue")
        | ("PUT", "/api/v1/banks/{code}") => Some(&["admin"][..]),
        // The audit trail; the ratings overview and the follow-ups.
        ("GET", "/api/v1/audit" | "/api/v1/ratings" | "/api/v1/follow-ups") => {
            Some(&["supervisor", "admin"][..])
        }
        ("GET", "/api/v1/cards/{card_number}") => Some(
            &[
                "acceptor",
                "processor",
                "feedback",
                "supervisor",
                "admin",
                "bank_teller",
            ][..],
        ),
        // 合作银行: tellers activate at the counter (a bank's system signs
        // its requests instead, tested in tests/banks.rs).
        ("POST", "/api/v1/bank/activations") | ("GET", "/api/v1/bank/cards/{card_number}") => {
            Some(&["bank_teller"][..])
        }
        ("GET" | "DELETE", "/api/v1/citizen/session")
        // 互联网咨询 from the cardholder's account.
        | ("GET" | "POST", "/api/v1/citizen/consultations") => Some(&[CITIZEN][..]),
        // … and (单位批量启用) the window clerks take a batch's steps.
        ("POST", "/api/v1/cards/{card_number}/reveal" | "/api/v1/batches/{batch_no}/{action}") => {
            Some(&["acceptor", "processor", "feedback"][..])
        }
        // 单位批量启用: the employer submits and supplements its own batches …
        ("POST", "/api/v1/batches" | "/api/v1/batches/{batch_no}/supplement") => {
            Some(&["employer"][..])
        }
        // … and reads them, as bureau staff read every employer's.
        (
            "GET",
            "/api/v1/batches"
            | "/api/v1/batches/template.xlsx"
            | "/api/v1/batches/{batch_no}"
            | "/api/v1/batches/{batch_no}/report.xlsx"
            | "/api/v1/batches/{batch_no}/authorization",
        ) => Some(
            &[
                "employer",
                "acceptor",
                "processor",
                "feedback",
                "supervisor",
                "admin",
            ][..],
        ),
        // The workbench's queue counts are for bureau staff, and the audited
        // look-up for phone and on-site queries (电话查询、现场查询).
        ("POST", "/api/v1/persons/lookup" | "/api/v1/applications/lookup")
        | ("GET", "/api/v1/applications/queues")
        // The bank registry and the banks' rejections to follow up.
        | ("GET", "/api/v1/banks" | "/api/v1/banks/{code}" | "/api/v1/banks/{code}/rejections") => {
            Some(&["acceptor", "processor", "feedback", "supervisor", "admin"][..])
        }
        // The activation case: the cardholder applies online and the 受理岗
        // enters walk-in and posted applications …
        ("POST", "/api/v1/applications" | "/api/v1/applications/precheck" | "/api/v1/uploads") => {
            Some(&["acceptor", CITIZEN][..])
        }
        // … the cardholder reads their own cases and scans, bureau staff all …
        ("GET", "/api/v1/applications" | "/api/v1/applications/{application_no}")
        | ("GET", "/api/v1/uploads/{upload_id}")
        // … and the 业务反馈单 of an ended case …
        | ("GET", "/api/v1/applications/{application_no}/slip.pdf") => Some(
            &[
                "acceptor",
                "processor",
                "feedback",
                "supervisor",
                "admin",
                CITIZEN,
            ][..],
        ),
        // … and the window clerks act (each action's step role is the
        // domain's, tested in applications_matrix.rs), the cardholder
        // supplements; 好差评: the cardholder online, a window clerk at the
        // window.
        (
            "POST",
            "/api/v1/applications/{application_no}/{action}"
            | "/api/v1/applications/{application_no}/rating",
        ) => Some(&["acceptor", "processor", "feedback", CITIZEN][..]),
        _ => return None,
    };
    Some(access)
}

/// The citizen, walked like a role: signed in by SMS code, not a staff account.
const CITIZEN: &str = "citizen";

const ROLES: [&str; 8] = [
    "acceptor",
    "processor",
    "feedback",
    "supervisor",
    "admin",
    "bank_teller",
    "employer",
    CITIZEN,
];

fn concrete(path: &str) -> String {
    path.replace("{version}", "44")
        .replace("{year}", "2026")
        .replace("{username}", "nobody")
        .replace("{card_number}", "A12345678")
        .replace("{code}", "ICBC")
        .replace("{application_no}", "SQ-20261127-000001")
        .replace("{batch_no}", "PL-20261127-000001")
        .replace("{action}", "accept")
        .replace("{upload_id}", "5f0c8a52-3f7c-4d35-9d0e-2b1f4f6c9a01")
        .replace("{consultation_no}", "ZX-20261127-000001")
        .replace("{step}", "rectification")
        .replace("{verification_code}", "7K3M9QX2TB4HWZ8C")
}

#[tokio::test]
async fn every_route_allows_exactly_the_expected_roles() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            assert!(
                expected(&method, path).is_some(),
                "{method} {path} has no entry in this role matrix"
            );
            assert!(
                sscard::http::auth::rule(&method.parse().unwrap(), path).is_some(),
                "{method} {path} has no access rule in http::auth::rule"
            );
            routes.push((method, path.clone()));
        }
    }
    // Sign-outs last, so the session lives through the walk.
    routes.sort_by_key(|(method, _)| method == "DELETE");
    assert!(routes.len() >= 17, "the walk covers the API: {routes:?}");

    let mut tokens: BTreeMap<&str, String> = BTreeMap::new();
    for role in ROLES {
        let token = if role == CITIZEN {
            app.citizen("45022119900101123", "张三").await.token
        } else {
            app.staff(&format!("matrix.{}", role.replace('_', "-")), &[role])
                .await
                .token
        };
        tokens.insert(role, token);
    }

    for (method, path) in &routes {
        let access = expected(method, path).unwrap();
        let url = app.url(&concrete(path));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        // Anonymous.
        let anonymous = app
            .client
            .request(method.clone(), &url)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        match access {
            None => assert!(
                !matches!(
                    anonymous.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ),
                "anonymous may {method} {path}, got {}",
                anonymous.status()
            ),
            Some(_) => assert_eq!(
                anonymous.status(),
                StatusCode::UNAUTHORIZED,
                "anonymous {method} {path}"
            ),
        }
        for role in ROLES {
            let response = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&tokens[role])
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let allowed = match access {
                None => true,
                Some(roles) => roles.contains(&role) || (roles.is_empty() && role != CITIZEN),
            };
            if allowed {
                assert!(
                    !matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ),
                    "{role} may {method} {path}, got {}",
                    response.status()
                );
            } else {
                assert_eq!(
                    response.status(),
                    StatusCode::FORBIDDEN,
                    "{role} may not {method} {path}"
                );
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["code"], "ROLE_NOT_PERMITTED");
            }
        }
    }
}

#[tokio::test]
async fn an_initial_password_must_be_changed_before_any_work() {
    let app = TestApp::spawn().await;
    let created = app
        .db()
        .services()
        .await
        .create_account(
            sscard::service::accounts::NewAccount {
                username: "new.admin".to_owned(),
                display_name: None,
                roles: vec!["admin".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap();
    let token = app
        .sign_in(
            "new.admin",
            &created.initial_password,
            created.totp.as_ref().map(|t| t.secret_base32.as_str()),
        )
        .await
        .unwrap();
    let response = app
        .client
        .get(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body =
        common::assert_problem(response, StatusCode::FORBIDDEN, "PASSWORD_CHANGE_REQUIRED").await;
    assert!(body["detail"].as_str().unwrap().contains("修改初始密码"));
}
