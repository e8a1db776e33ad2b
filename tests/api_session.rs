//! Staff sign-in, the initial password, lock-out, TOTP and sessions.

mod common;

use common::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::json;
use sscard::service::Actor;
use sscard::service::accounts::NewAccount;

async fn create(app: &TestApp, username: &str, roles: &[&str]) -> (String, Option<String>) {
    let created = app
        .db()
        .services()
        .await
        .create_account(
            NewAccount {
                username: username.to_owned(),
                display_name: Some("李明".to_owned()),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                bank_code: None,
                employer_uscc: None,
            },
            &Actor::system(),
        )
        .await
        .unwrap();
    (
        created.initial_password,
        created.totp.map(|t| t.secret_base32),
    )
}

#[tokio::test]
async fn a_new_clerk_signs_in_changes_the_initial_password_and_signs_out() {
    let app = TestApp::spawn().await;
    let (initial, totp) = create(&app, "clerk.li", &["acceptor", "processor", "feedback"]).await;
    assert!(totp.is_none(), "window clerks need no TOTP");

    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "Clerk.Li", "password": initial}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["must_change_password"], true);
    assert_eq!(body["roles"], json!(["acceptor", "processor", "feedback"]));
    let token = body["token"].as_str().unwrap().to_owned();

    let me = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["display_name"], "李明");

    // A weak new password: every problem at once.
    let weak = app
        .client
        .post(app.url("/api/v1/session/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": "wrong", "new_password": "short"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED").await;
    let codes: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"PASSWORD_WRONG") && codes.contains(&"PASSWORD_TOO_SHORT"),
        "{codes:?}"
    );

    let changed = app
        .client
        .post(app.url("/api/v1/session/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": initial, "new_password": "Liujiang-318-Window"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    // The session goes on; the old password no longer works, the new one does.
    let me = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["must_change_password"], false);
    assert!(app.sign_in("clerk.li", &initial, None).await.is_err());
    assert!(
        app.sign_in("clerk.li", "Liujiang-318-Window", None)
            .await
            .is_ok()
    );

    let out = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(after, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED").await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let (initial, _) = create(&app, "clerk.wang", &["acceptor"]).await;
    for attempt in 1..=4 {
        let problem = app
            .sign_in("clerk.wang", "Wrong-Password-1", None)
            .await
            .unwrap_err();
        assert_eq!(problem["code"], "INVALID_CREDENTIALS");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("再错 {} 次", 5 - attempt)),
            "{problem}"
        );
    }
    let locked = app
        .sign_in("clerk.wang", "Wrong-Password-1", None)
        .await
        .unwrap_err();
    assert_eq!(locked["code"], "ACCOUNT_LOCKED");
    assert_eq!(locked["status"], 403);
    assert!(
        locked["detail"].as_str().unwrap().contains("账号已被锁定"),
        "{locked}"
    );
    assert!(
        locked["detail"].as_str().unwrap().contains("15 分钟"),
        "{locked}"
    );
    // Even the right password is refused while locked.
    let still = app.sign_in("clerk.wang", &initial, None).await.unwrap_err();
    assert_eq!(still["code"], "ACCOUNT_LOCKED");
    // An unknown user gets the same answer as a wrong password.
    let unknown = app
        .sign_in("nobody", "Whatever-123!", None)
        .await
        .unwrap_err();
    assert_eq!(unknown["code"], "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn admins_need_totp_and_disabling_an_account_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let (initial, totp) = create(&app, "admin.zhao", &["admin"]).await;
    let totp = totp.expect("admins get a TOTP secret");
    let without = app.sign_in("admin.zhao", &initial, None).await.unwrap_err();
    assert_eq!(without["code"], "TOTP_REQUIRED");
    let wrong = app
        .sign_in(
            "admin.zhao",
            &initial,
            Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong["code"], "INVALID_CREDENTIALS");
    assert!(
        app.sign_in("admin.zhao", &initial, Some(&totp))
            .await
            .is_ok()
    );

    let admin = app.staff("admin.qian", &["admin"]).await;
    let clerk = app.staff("clerk.sun", &["feedback"]).await;

    let created = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&admin.token)
        .json(&json!({"username": "teller.zhou", "roles": ["bank_teller"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        created,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "BANK_REQUIRED");

    let created = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&admin.token)
        .json(&json!({"username": "teller.zhou", "roles": ["bank_teller"], "bank_code": "ICBC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["account"]["bank_code"], "ICBC");
    assert!(created["initial_password"].as_str().unwrap().len() >= 12);

    let disabled = app
        .client
        .post(app.url(&format!("/api/v1/accounts/{}/disable", clerk.username)))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let after = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&clerk.token)
        .send()
        .await
        .unwrap();
    assert_problem(after, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED").await;

    let list = app
        .client
        .get(app.url("/api/v1/accounts"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = list.json().await.unwrap();
    let text = list.to_string();
    assert!(
        !text.contains("password_hash") && !text.contains("argon2"),
        "no secrets listed"
    );
}
