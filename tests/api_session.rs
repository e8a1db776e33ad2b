//! Staff sign-in, the initial password, lock-out, TOTP and sessions.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use sscard::service::accounts::{NewAccount, SESSION_IDLE_TIMEOUT};
use sscard::service::{Actor, ServiceError};

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

/// `GET /api/v1/session` with `token`.
async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Sets a time column of the sessions of `username`'s account.
async fn set_session_time(app: &TestApp, username: &str, column: &str, value: DateTime<Utc>) {
    let pool = app.db().services().await.store().pool().clone();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET {column} = $1 \
         WHERE account_id = (SELECT id FROM accounts WHERE username = $2)"
    )))
    .bind(sscard::store::format_time(value))
    .bind(username.to_owned())
    .execute(&pool)
    .await
    .unwrap();
}

/// A staff request reads its session, the account and the account's roles in
/// one statement: every refusal and the idle timer's restart still hold.
#[tokio::test]
async fn a_session_is_checked_against_its_timers_its_account_and_its_roles() {
    let app = TestApp::spawn().await;
    let pool = app.db().services().await.store().pool().clone();

    // Every role comes back (one row each).
    let clerk = app
        .staff("clerk.wu", &["acceptor", "processor", "feedback"])
        .await;
    let response = me(&app, &clerk.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["username"], "clerk.wu");
    let mut roles: Vec<String> = serde_json::from_value(body["roles"].clone()).unwrap();
    roles.sort();
    assert_eq!(roles, ["acceptor", "feedback", "processor"]);

    // Last seen two minutes ago: still open, and the idle timer restarts.
    let two_minutes_ago = Utc::now() - Duration::minutes(2);
    set_session_time(&app, "clerk.wu", "last_seen_at", two_minutes_ago).await;
    assert_eq!(me(&app, &clerk.token).await.status(), StatusCode::OK);
    let last_seen: String = sqlx::query(
        "SELECT last_seen_at FROM sessions \
         WHERE account_id = (SELECT id FROM accounts WHERE username = $1)",
    )
    .bind("clerk.wu".to_owned())
    .fetch_one(&pool)
    .await
    .unwrap()
    .get("last_seen_at");
    let last_seen = sscard::store::parse_time(&last_seen).unwrap();
    assert!(
        last_seen > two_minutes_ago + Duration::minutes(1),
        "{last_seen}"
    );

    // Idle for longer than the timeout: over.
    let idle = Utc::now() - SESSION_IDLE_TIMEOUT - Duration::seconds(1);
    set_session_time(&app, "clerk.wu", "last_seen_at", idle).await;
    assert_problem(
        me(&app, &clerk.token).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
    )
    .await;

    // Past its end: over.
    let late = app.staff("clerk.zheng", &["feedback"]).await;
    let past = Utc::now() - Duration::seconds(1);
    set_session_time(&app, "clerk.zheng", "expires_at", past).await;
    assert_problem(
        me(&app, &late.token).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
    )
    .await;

    // An account disabled while a session of it is still open (disabling
    // ends its sessions too; this is the check behind that).
    let disabled = app.staff("clerk.feng", &["acceptor"]).await;
    sqlx::query("UPDATE accounts SET disabled = 1 WHERE username = $1")
        .bind("clerk.feng".to_owned())
        .execute(&pool)
        .await
        .unwrap();
    assert_problem(
        me(&app, &disabled.token).await,
        StatusCode::UNAUTHORIZED,
        "ACCOUNT_DISABLED",
    )
    .await;

    // An account left without a role is still found (one row, no role) and
    // refused as inconsistent, not taken for a missing session.
    let roleless = app.staff("clerk.chen", &["processor"]).await;
    sqlx::query(
        "DELETE FROM account_roles \
         WHERE account_id = (SELECT id FROM accounts WHERE username = $1)",
    )
    .bind("clerk.chen".to_owned())
    .execute(&pool)
    .await
    .unwrap();
    let refused = app
        .db()
        .services()
        .await
        .authenticate(&roleless.token)
        .await
        .unwrap_err();
    assert!(matches!(refused, ServiceError::Internal(_)), "{refused:?}");

    // A revoked session and an unknown token.
    let out = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&late.token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::UNAUTHORIZED, "already expired");
    let signed_out = app.staff("clerk.jiang", &["feedback"]).await;
    let out = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&signed_out.token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_problem(
        me(&app, &signed_out.token).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_EXPIRED",
    )
    .await;
    assert_problem(
        me(&app, "s_no-such-session").await,
        StatusCode::UNAUTHORIZED,
        "NOT_SIGNED_IN",
    )
    .await;
}
