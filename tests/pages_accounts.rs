//! The pages of signed-in people, as a browser uses them: a cookie session,
//! plain same-origin form posts and 303 redirects. Sign-in, the initial
//! password, the workbench, account administration and the audit trail, with
//! their refusals; and the matching JSON API routes.

mod common;

use common::pages::{NEW_PASSWORD, Person, html, location};
use common::{TestApp, assert_problem};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sscard::service::Actor;
use sscard::service::accounts::NewAccount;

fn set_cookie(headers: &HeaderMap) -> String {
    headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie header")
        .to_owned()
}

/// The text of the element with `id` (a `<code>` or other leaf element).
fn element_text(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in\n{page}"));
    let rest = &page[start..];
    let open_end = rest.find('>').expect("end of the start tag") + 1;
    let close = rest[open_end..].find('<').expect("a closing tag");
    rest[open_end..open_end + close].to_owned()
}

async fn create(
    app: &TestApp,
    username: &str,
    name: &str,
    roles: &[&str],
) -> (String, Option<String>) {
    let created = app
        .db()
        .services()
        .await
        .create_account(
            NewAccount {
                username: username.to_owned(),
                display_name: Some(name.to_owned()),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                bank_code: roles.contains(&"bank_teller").then(|| "ICBC".to_owned()),
                employer_uscc: roles.contains(&"employer").then(common::valid_uscc),
            },
            &Actor::system(),
        )
        .await
        .expect("create the account");
    (
        created.initial_password,
        created.totp.map(|t| t.secret_base32),
    )
}

/// A person with a new account, signed in through the page and past the
/// initial password; also gives the TOTP secret.
async fn signed_in(
    app: &TestApp,
    username: &str,
    name: &str,
    roles: &[&str],
) -> (Person, Option<String>) {
    let (initial, totp) = create(app, username, name, roles).await;
    let person = Person::new(app);
    let response = person.sign_in(username, &initial, totp.as_deref()).await;
    assert_eq!(location(&response), "/password");
    let response = person
        .post(
            "/password",
            &[
                ("current_password", &initial),
                ("new_password", NEW_PASSWORD),
                ("repeat_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&response), "/workbench?notice=password-changed");
    (person, totp)
}

#[tokio::test]
async fn anonymous_people_are_sent_to_sign_in_while_api_clients_still_get_json() {
    let app = TestApp::spawn().await;
    let person = Person::new(&app);
    for path in [
        "/workbench",
        "/password",
        "/admin/accounts",
        "/admin/accounts/nobody",
        "/audit",
    ] {
        let response = person.get(path).await;
        assert_eq!(location(&response), "/signin", "GET {path}");
    }
    for path in ["/signout", "/password", "/admin/accounts"] {
        let response = person.post(path, &[]).await;
        assert_eq!(location(&response), "/signin", "POST {path}");
    }
    // The JSON API answers as before.
    let response = app.get("/api/v1/accounts").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN").await;
    let response = app.get("/api/v1/audit").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN").await;

    let form = person.page("/signin", StatusCode::OK).await;
    for field in [
        "name=\"username\"",
        "name=\"password\"",
        "name=\"totp\"",
        "method=\"post\" action=\"/signin\"",
    ] {
        assert!(form.contains(field), "{field} in the sign-in form");
    }
    assert!(form.contains("动态口令"));

    // A cookie naming no session: sent to sign in again, and the cookie goes.
    let response = app
        .client
        .get(app.url("/workbench"))
        .header("cookie", "sscard_session=0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/signin?notice=expired");
    let cookie = set_cookie(response.headers());
    assert!(
        cookie.starts_with("sscard_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let page = person.page("/signin?notice=expired", StatusCode::OK).await;
    assert!(page.contains("登录已过期或已结束，请重新登录。"));
}

#[tokio::test]
async fn a_clerk_signs_in_changes_the_initial_password_works_and_signs_out() {
    let app = TestApp::spawn().await;
    let (initial, totp) = create(
        &app,
        "clerk.li",
        "李明",
        &["acceptor", "processor", "feedback"],
    )
    .await;
    assert!(totp.is_none());
    let person = Person::new(&app);

    // A wrong password: the form again, with the service's message and the username kept.
    let response = person.sign_in("Clerk.Li", "Wrong-Password-1", None).await;
    assert!(response.headers().get(SET_COOKIE).is_none());
    let page = html(response, StatusCode::UNAUTHORIZED).await;
    assert!(
        page.contains("用户名、密码或动态口令不正确，请核对后重试。再错 4 次，账号将被暂时锁定。"),
        "{page}"
    );
    assert!(page.contains("value=\"Clerk.Li\""), "the username stays");
    assert!(
        !page.contains("Wrong-Password-1"),
        "the password is never echoed"
    );

    // The initial password: a cookie session, and on to the password page.
    let response = person.sign_in("clerk.li", &initial, None).await;
    assert_eq!(location(&response), "/password");
    let cookie = set_cookie(response.headers());
    assert!(cookie.starts_with("sscard_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let token = cookie
        .trim_start_matches("sscard_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // No work before the initial password is changed.
    let response = person.get("/workbench").await;
    assert_eq!(location(&response), "/password");
    let page = person.page("/password", StatusCode::OK).await;
    assert!(page.contains("首次登录，请先修改初始密码"));
    assert!(page.contains("退出登录"));
    assert!(
        !page.contains("href=\"/workbench\""),
        "no way around the password page"
    );

    // Every problem at once.
    let response = person
        .post(
            "/password",
            &[
                ("current_password", "not-the-password"),
                ("new_password", "short"),
                ("repeat_password", "shorter"),
            ],
        )
        .await;
    let page = html(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    for message in [
        "密码未修改，请按提示修改后重试。",
        "当前密码不正确。",
        "密码至少 12 位。",
        "密码须包含大写字母、小写字母、数字、符号中的至少三类。",
        "两次输入的新密码不一致。",
    ] {
        assert!(page.contains(message), "{message} in\n{page}");
    }
    // A good new password typed differently the second time is still refused.
    let response = person
        .post(
            "/password",
            &[
                ("current_password", &initial),
                ("new_password", NEW_PASSWORD),
                ("repeat_password", "Liujiang-318-Windows"),
            ],
        )
        .await;
    let page = html(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(page.contains("data-code=\"PASSWORD_REPEAT_MISMATCH\""));
    assert!(!page.contains("data-code=\"PASSWORD_WRONG\""));

    let response = person
        .post(
            "/password",
            &[
                ("current_password", &initial),
                ("new_password", NEW_PASSWORD),
                ("repeat_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&response), "/workbench?notice=password-changed");

    let page = person
        .page("/workbench?notice=password-changed", StatusCode::OK)
        .await;
    assert!(page.contains("您好，李明"), "{page}");
    assert!(page.contains("密码已修改"));
    for text in [
        "受理岗",
        "经办岗",
        "反馈岗",
        "收件与受理",
        "审查与决定",
        "颁证与送达",
        "下载、打印业务反馈单",
        "单位批量启用受理",
        "退出登录",
    ] {
        assert!(page.contains(text), "{text} on the workbench");
    }
    // Every duty of the three window roles is open: none says "coming soon".
    assert!(!page.contains("即将开放"), "{page}");
    assert!(!page.contains("href=\"/admin/accounts\""));
    assert!(!page.contains("href=\"/audit\""));
    assert!(
        page.contains("href=\"/staff/cards\""),
        "bureau staff look cards up"
    );
    assert!(app.sign_in("clerk.li", &initial, None).await.is_err());

    // Admin pages are not for a clerk.
    let page = person.page("/admin/accounts", StatusCode::FORBIDDEN).await;
    assert!(page.contains("此功能仅限系统管理员使用。"), "{page}");
    let page = person.page("/audit", StatusCode::FORBIDDEN).await;
    assert!(
        page.contains("此功能仅限监督员、系统管理员使用。"),
        "{page}"
    );

    // Signing out ends the session on the server, not only in the browser.
    let response = person.post("/signout", &[]).await;
    assert_eq!(location(&response), "/signin?notice=signed-out");
    assert!(set_cookie(response.headers()).contains("Max-Age=0"));
    let response = person.get("/workbench").await;
    assert_eq!(location(&response), "/signin");
    let response = app
        .client
        .get(app.url("/workbench"))
        .header("cookie", format!("sscard_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/signin?notice=expired");
    let page = person
        .page("/signin?notice=signed-out", StatusCode::OK)
        .await;
    assert!(page.contains("您已安全退出登录。"));

    // The new password works through the page and goes straight to the workbench.
    let response = person.sign_in("clerk.li", NEW_PASSWORD, None).await;
    assert_eq!(location(&response), "/workbench");
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_site_is_served_over_https() {
    let app = TestApp::spawn().await;
    let (initial, _) = create(&app, "clerk.zhang", "张伟", &["acceptor"]).await;
    let response = app
        .client
        .post(app.url("/signin"))
        .header("x-forwarded-proto", "https")
        .form(&[("username", "clerk.zhang"), ("password", initial.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/password");
    let cookie = set_cookie(response.headers());
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let db = app.stop().await;

    // Configured for HTTPS (`SSCARD_SECURE_COOKIES=1`): always Secure.
    let app = TestApp::spawn_with(
        db,
        sscard::http::HttpConfig {
            secure_cookies: true,
            ..TestApp::test_config()
        },
    )
    .await;
    let response = app
        .client
        .post(app.url("/signin"))
        .form(&[("username", "clerk.zhang"), ("password", initial.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/password");
    let cookie = set_cookie(response.headers());
    assert!(
        cookie.contains("HttpOnly") && cookie.ends_with("; Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_the_page_says_so() {
    let app = TestApp::spawn().await;
    let (initial, _) = create(&app, "clerk.wang", "王芳", &["acceptor"]).await;
    let person = Person::new(&app);
    for remaining in (1..=4).rev() {
        let response = person.sign_in("clerk.wang", "Wrong-Password-1", None).await;
        let page = html(response, StatusCode::UNAUTHORIZED).await;
        assert!(page.contains(&format!("再错 {remaining} 次")), "{page}");
    }
    let response = person.sign_in("clerk.wang", "Wrong-Password-1", None).await;
    let page = html(response, StatusCode::FORBIDDEN).await;
    assert!(page.contains("账号已被锁定"), "{page}");
    assert!(page.contains("15 分钟"));
    assert!(page.contains("value=\"clerk.wang\""));
    // Even the right password waits for the lock to end.
    let response = person.sign_in("clerk.wang", &initial, None).await;
    let page = html(response, StatusCode::FORBIDDEN).await;
    assert!(page.contains("账号已被锁定"));
}

#[tokio::test]
async fn admins_and_supervisors_give_their_totp_code_on_the_sign_in_page() {
    let app = TestApp::spawn().await;
    let (initial, totp) = create(&app, "admin.zhao", "赵磊", &["admin"]).await;
    let totp = totp.expect("admins have TOTP");
    let person = Person::new(&app);
    let response = person.sign_in("admin.zhao", &initial, None).await;
    let page = html(response, StatusCode::UNAUTHORIZED).await;
    assert!(page.contains("该账号须输入动态口令（TOTP）"), "{page}");
    assert!(
        page.contains("aria-invalid=\"true\""),
        "the TOTP field is marked"
    );
    let response = person
        .post(
            "/signin",
            &[
                ("username", "admin.zhao"),
                ("password", &initial),
                ("totp", "000000"),
            ],
        )
        .await;
    // (A right code by chance is one in a million; a wrong one is refused.)
    if response.status() != StatusCode::SEE_OTHER {
        let page = html(response, StatusCode::UNAUTHORIZED).await;
        assert!(page.contains("用户名、密码或动态口令不正确"));
    }
    let response = person.sign_in("admin.zhao", &initial, Some(&totp)).await;
    assert_eq!(location(&response), "/password");
}

#[tokio::test]
async fn an_admin_manages_accounts_through_the_pages() {
    let app = TestApp::spawn().await;
    let (admin, _) = signed_in(&app, "admin.qian", "钱进", &["admin"]).await;

    let page = admin.page("/workbench", StatusCode::OK).await;
    assert!(page.contains("您好，钱进"));
    assert!(page.contains("系统管理员"));
    assert!(page.contains("href=\"/admin/accounts\""));
    assert!(page.contains("href=\"/audit\""));

    let page = admin.page("/admin/accounts", StatusCode::OK).await;
    assert!(page.contains("id=\"account-admin.qian\""));
    assert!(page.contains("钱进"));

    // Every problem of a new account at once, and the form keeps what was typed.
    let response = admin
        .post(
            "/admin/accounts",
            &[
                ("username", "X"),
                ("display_name", "周敏"),
                ("roles", "bank_teller"),
                ("bank_code", ""),
                ("employer_uscc", "123"),
            ],
        )
        .await;
    let page = html(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    for code in ["USERNAME_INVALID", "BANK_REQUIRED"] {
        assert!(
            page.contains(&format!("data-code=\"{code}\"")),
            "{code} in\n{page}"
        );
    }
    assert!(
        page.contains("data-code=\"USCC_"),
        "the USCC problem in\n{page}"
    );
    assert!(page.contains("value=\"周敏\""));
    assert!(page.contains("value=\"bank_teller\" checked"));

    // A bank teller: the one-time initial password, no TOTP.
    let response = admin
        .post(
            "/admin/accounts",
            &[
                ("username", "teller.zhou"),
                ("display_name", "周敏"),
                ("roles", "bank_teller"),
                ("bank_code", "ICBC"),
                ("employer_uscc", ""),
            ],
        )
        .await;
    let page = html(response, StatusCode::CREATED).await;
    assert!(page.contains("账号已创建"));
    assert!(page.contains("只显示这一次"));
    let teller_initial = element_text(&page, "initial-password");
    assert_eq!(teller_initial.len(), 16);
    assert!(!page.contains("id=\"totp-secret\""));

    // A window clerk with all three step roles, and a supervisor with TOTP.
    let response = admin
        .post(
            "/admin/accounts",
            &[
                ("username", "clerk.sun"),
                ("display_name", "孙丽"),
                ("roles", "acceptor"),
                ("roles", "processor"),
                ("roles", "feedback"),
            ],
        )
        .await;
    let page = html(response, StatusCode::CREATED).await;
    let clerk_initial = element_text(&page, "initial-password");
    assert!(page.contains("受理岗、经办岗、反馈岗"), "{page}");

    let response = admin
        .post(
            "/admin/accounts",
            &[
                ("username", "sup.wu"),
                ("display_name", "吴刚"),
                ("roles", "supervisor"),
            ],
        )
        .await;
    let page = html(response, StatusCode::CREATED).await;
    let secret = element_text(&page, "totp-secret");
    assert!(element_text(&page, "totp-uri").starts_with("otpauth://totp/sscard:sup.wu?secret="));
    let sup_initial = element_text(&page, "initial-password");
    let supervisor = Person::new(&app);
    let response = supervisor
        .sign_in("sup.wu", &sup_initial, Some(&secret))
        .await;
    assert_eq!(location(&response), "/password");

    // A name already taken.
    let response = admin
        .post(
            "/admin/accounts",
            &[("username", "teller.zhou"), ("roles", "acceptor")],
        )
        .await;
    let page = html(response, StatusCode::CONFLICT).await;
    assert!(page.contains("用户名“teller.zhou”已被使用"));

    let page = admin.page("/admin/accounts", StatusCode::OK).await;
    let row = &page[page.find("id=\"account-teller.zhou\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    for text in ["周敏", "合作银行柜员", "合作银行 ICBC", "正常", "待修改"] {
        assert!(row.contains(text), "{text} in {row}");
    }

    // The teller signs in; disabling ends that session at once.
    let teller = Person::new(&app);
    let response = teller.sign_in("teller.zhou", &teller_initial, None).await;
    assert_eq!(location(&response), "/password");
    let response = admin.post("/admin/accounts/teller.zhou/disable", &[]).await;
    assert_eq!(
        location(&response),
        "/admin/accounts/teller.zhou?notice=disabled"
    );
    let page = admin
        .page(
            "/admin/accounts/teller.zhou?notice=disabled",
            StatusCode::OK,
        )
        .await;
    assert!(page.contains("账号已停用，其登录会话已全部结束。"));
    assert_eq!(element_text(&page, "status"), "已停用");
    let response = teller.get("/password").await;
    assert_eq!(location(&response), "/signin?notice=expired");
    let response = teller.sign_in("teller.zhou", &teller_initial, None).await;
    let page = html(response, StatusCode::FORBIDDEN).await;
    assert!(page.contains("该账号已停用，请联系系统管理员。"));

    let response = admin.post("/admin/accounts/teller.zhou/enable", &[]).await;
    assert_eq!(
        location(&response),
        "/admin/accounts/teller.zhou?notice=enabled"
    );
    let page = admin
        .page("/admin/accounts/teller.zhou", StatusCode::OK)
        .await;
    assert_eq!(element_text(&page, "status"), "正常");

    // A reset: a new one-time password; the old one stops working.
    let response = teller.sign_in("teller.zhou", &teller_initial, None).await;
    assert_eq!(location(&response), "/password");
    let response = admin
        .post("/admin/accounts/teller.zhou/reset-password", &[])
        .await;
    let page = html(response, StatusCode::OK).await;
    assert!(page.contains("密码已重置"));
    assert!(page.contains("该账号的 1 个登录会话已结束。"), "{page}");
    let reset = element_text(&page, "initial-password");
    assert_ne!(reset, teller_initial);
    let response = teller.get("/password").await;
    assert_eq!(location(&response), "/signin?notice=expired");
    let response = teller.sign_in("teller.zhou", &teller_initial, None).await;
    html(response, StatusCode::UNAUTHORIZED).await;
    let response = teller.sign_in("teller.zhou", &reset, None).await;
    assert_eq!(location(&response), "/password");

    // Roles: refused with the reason, then changed.
    let response = admin
        .post(
            "/admin/accounts/teller.zhou/roles",
            &[("roles", "acceptor"), ("bank_code", "ICBC")],
        )
        .await;
    let page = html(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(page.contains("data-code=\"BANK_NOT_ALLOWED\""), "{page}");
    assert!(page.contains("只有合作银行柜员账号可以绑定银行。"));
    let response = admin
        .post(
            "/admin/accounts/teller.zhou/roles",
            &[("roles", "acceptor"), ("bank_code", "")],
        )
        .await;
    assert_eq!(
        location(&response),
        "/admin/accounts/teller.zhou?notice=roles-changed"
    );
    let page = admin
        .page("/admin/accounts/teller.zhou", StatusCode::OK)
        .await;
    assert_eq!(element_text(&page, "roles"), "受理岗");
    let response = teller.get("/password").await;
    assert_eq!(
        location(&response),
        "/signin?notice=expired",
        "a role change ends the sessions"
    );
    let response = admin
        .post(
            "/admin/accounts/teller.zhou/roles",
            &[("roles", "acceptor")],
        )
        .await;
    assert_eq!(
        location(&response),
        "/admin/accounts/teller.zhou?notice=roles-unchanged"
    );

    // A clerk becomes a supervisor: the TOTP secret appears once, and is needed.
    let response = admin
        .post(
            "/admin/accounts/clerk.sun/roles",
            &[("roles", "supervisor"), ("roles", "acceptor")],
        )
        .await;
    let page = html(response, StatusCode::OK).await;
    assert!(page.contains("角色已修改"));
    let clerk_secret = element_text(&page, "totp-secret");
    assert!(!page.contains("id=\"initial-password\""));
    let clerk = Person::new(&app);
    let response = clerk.sign_in("clerk.sun", &clerk_initial, None).await;
    let page = html(response, StatusCode::UNAUTHORIZED).await;
    assert!(page.contains("动态口令"));
    let response = clerk
        .sign_in("clerk.sun", &clerk_initial, Some(&clerk_secret))
        .await;
    assert_eq!(location(&response), "/password");

    // Administrators keep their own admin role and change their own password themselves.
    let response = admin
        .post(
            "/admin/accounts/admin.qian/roles",
            &[("roles", "supervisor")],
        )
        .await;
    let page = html(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(page.contains("不能取消自己的系统管理员角色"), "{page}");
    let response = admin
        .post("/admin/accounts/admin.qian/reset-password", &[])
        .await;
    let page = html(response, StatusCode::CONFLICT).await;
    assert!(page.contains("不能重置自己的密码"));

    let page = admin
        .page("/admin/accounts/nobody", StatusCode::NOT_FOUND)
        .await;
    assert!(page.contains("没有用户名为“nobody”的账号。"));
    let response = admin.post("/admin/accounts/nobody/disable", &[]).await;
    html(response, StatusCode::NOT_FOUND).await;

    // Everything above is in the trail, with who did it.
    let page = admin
        .page("/audit?action=account.reset_password", StatusCode::OK)
        .await;
    assert!(page.contains("共 1 条"), "{page}");
    assert!(page.contains("钱进（admin.qian）"));
    assert!(page.contains("重置密码（account.reset_password）"));
}

#[tokio::test]
async fn the_api_resets_passwords_and_changes_roles() {
    let app = TestApp::spawn().await;
    let admin = app.staff("admin.qian", &["admin"]).await;
    let clerk = app.staff("clerk.sun", &["acceptor"]).await;

    let response = app
        .client
        .post(app.url("/api/v1/accounts/clerk.sun/reset-password"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["account"]["must_change_password"], true);
    assert_eq!(body["sessions_ended"], 1);
    let initial = body["initial_password"].as_str().unwrap().to_owned();
    let after = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&clerk.token)
        .send()
        .await
        .unwrap();
    assert_problem(after, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED").await;
    assert!(
        app.sign_in("clerk.sun", "Liujiang-318-Window-2026", None)
            .await
            .is_err()
    );
    let token = app.sign_in("clerk.sun", &initial, None).await.unwrap();
    let me = app
        .client
        .get(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["must_change_password"], true);

    let put = |body: Value| {
        app.client
            .put(app.url("/api/v1/accounts/clerk.sun/roles"))
            .bearer_auth(&admin.token)
            .json(&body)
            .send()
    };
    let response = put(json!({"roles": ["supervisor", "acceptor"]}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["changed"], true);
    assert_eq!(body["account"]["roles"], json!(["acceptor", "supervisor"]));
    assert_eq!(body["account"]["totp_enabled"], true);
    let secret = body["totp_secret"]
        .as_str()
        .expect("a TOTP secret")
        .to_owned();
    assert!(body["totp_uri"].as_str().unwrap().starts_with("otpauth://"));
    assert!(app.sign_in("clerk.sun", &initial, None).await.unwrap_err()["code"] == "TOTP_REQUIRED");
    assert!(
        app.sign_in("clerk.sun", &initial, Some(&secret))
            .await
            .is_ok()
    );

    let response = put(json!({"roles": ["acceptor", "supervisor"]}))
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["changed"], false);
    assert!(body.get("totp_secret").is_none(), "a secret is shown once");

    let response = put(json!({"roles": ["bank_teller"], "employer_uscc": common::valid_uscc()}))
        .await
        .unwrap();
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let codes: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["BANK_REQUIRED"]);
    let response = put(json!({"roles": ["root"]})).await.unwrap();
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "UNKNOWN_ROLE");

    let response = app
        .client
        .put(app.url("/api/v1/accounts/nobody/roles"))
        .bearer_auth(&admin.token)
        .json(&json!({"roles": ["acceptor"]}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "ACCOUNT_NOT_FOUND").await;
    let response = app
        .client
        .post(app.url("/api/v1/accounts/admin.qian/reset-password"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::CONFLICT, "OWN_PASSWORD_RESET").await;

    // The OpenAPI document describes the three routes.
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let reset = &doc["paths"]["/api/v1/accounts/{username}/reset-password"]["post"];
    assert!(reset["responses"]["200"].is_object(), "{reset}");
    let roles = &doc["paths"]["/api/v1/accounts/{username}/roles"]["put"];
    assert!(roles["requestBody"].is_object(), "{roles}");
    let audit = &doc["paths"]["/api/v1/audit"]["get"];
    let params: Vec<&str> = audit["parameters"]
        .as_array()
        .expect("audit query parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "from", "until", "actor", "action", "object", "outcome", "page", "per_page",
    ] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    for schema in [
        "PasswordResetResponse",
        "ChangeRoles",
        "RolesChangedResponse",
        "AuditSearch",
        "AuditEntryView",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} is documented"
        );
    }

    // The changes are audited, with who made them.
    let response = app
        .client
        .get(app.url("/api/v1/audit?action=account.reset_password"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["entries"][0]["detail"]["sessions_ended"], 1);
    let response = app
        .client
        .get(app.url("/api/v1/audit?object=account:&action=account.change_roles"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], 1, "{body}");
    let entry = &body["entries"][0];
    assert_eq!(entry["actor_username"], "admin.qian");
    assert_eq!(entry["detail"]["to"], json!(["acceptor", "supervisor"]));
    assert_eq!(entry["detail"]["totp_enrolled"], true);
}

#[tokio::test]
async fn supervisors_search_the_audit_trail_newest_first_page_by_page() {
    let app = TestApp::spawn().await;
    let admin = app.staff("admin.qian", &["admin"]).await;
    app.staff("clerk.sun", &["acceptor"]).await;
    let (supervisor, _) = signed_in(&app, "sup.wu", "吴刚", &["supervisor"]).await;
    for _ in 0..30 {
        for action in ["disable", "enable"] {
            let response = app
                .client
                .post(app.url(&format!("/api/v1/accounts/clerk.sun/{action}")))
                .bearer_auth(&admin.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    assert!(
        app.sign_in("clerk.sun", "Wrong-Password-1", None)
            .await
            .is_err()
    );

    let page = supervisor.page("/audit", StatusCode::OK).await;
    assert!(page.contains("审计链完整"), "{page}");
    assert!(page.contains("16 条链均未被改动"));
    assert_eq!(page.matches("<tr class=\"entry\">").count(), 50);
    assert!(page.contains("id=\"next\""));
    assert!(!page.contains("id=\"previous\""));
    assert!(page.contains("第 1/"));

    let page = supervisor
        .page("/audit?action=account.disable", StatusCode::OK)
        .await;
    assert!(page.contains("共 30 条"), "{page}");
    assert_eq!(page.matches("<tr class=\"entry\">").count(), 30);
    assert!(page.contains("停用账号（account.disable）"));
    assert!(page.contains("钱进") || page.contains("admin.qian"));
    assert!(!page.contains("id=\"next\""));

    let page = supervisor
        .page(
            "/audit?actor=admin.qian&action=account.enable&page=2",
            StatusCode::OK,
        )
        .await;
    assert!(page.contains("共 30 条"), "{page}");
    assert_eq!(page.matches("<tr class=\"entry\">").count(), 0);
    assert!(page.contains("没有符合条件的记录。"));
    assert!(page.contains("id=\"previous\""));

    let page = supervisor
        .page("/audit?outcome=refused", StatusCode::OK)
        .await;
    assert!(page.contains("共 1 条"), "{page}");
    assert!(page.contains("登录（session.sign_in）"));
    assert!(page.contains("登录前"));
    assert!(
        page.contains("reason") && page.contains("password"),
        "{page}"
    );

    // Time ranges are China civil dates, both ends included.
    let today = sscard::clock::today_in_china();
    let tomorrow = today.succ_opt().unwrap();
    let yesterday = today.pred_opt().unwrap();
    let page = supervisor
        .page(&format!("/audit?from={tomorrow}"), StatusCode::OK)
        .await;
    assert!(page.contains("共 0 条"));
    let page = supervisor
        .page(&format!("/audit?until={yesterday}"), StatusCode::OK)
        .await;
    assert!(page.contains("共 0 条"));
    let page = supervisor
        .page(
            &format!("/audit?from={today}&until={today}&action=account.disable"),
            StatusCode::OK,
        )
        .await;
    assert!(page.contains("共 30 条"));
    let page = supervisor
        .page(
            "/audit?from=2026-13-01&until=2026-01-01&outcome=maybe",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(page.contains("起始日期须为有效日期"), "{page}");
    let page = supervisor
        .page(
            "/audit?from=2026-03-02&until=2026-03-01&outcome=maybe",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(page.contains("截止时间须晚于起始时间"), "{page}");
    assert!(page.contains("结果须为 succeeded"), "{page}");

    // The API: the same search as JSON, newest first.
    let get = |query: &str| {
        app.client
            .get(app.url(&format!("/api/v1/audit{query}")))
            .bearer_auth(&admin.token)
            .send()
    };
    let body: Value = get("?per_page=200").await.unwrap().json().await.unwrap();
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(body["total"].as_u64(), u64::try_from(entries.len()).ok());
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(
        entries[0]["action"], "session.sign_in",
        "the newest: the failed sign-in"
    );

    let body: Value = get("?action=account.disable&per_page=10&page=3")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 30);
    assert_eq!(body["entries"].as_array().unwrap().len(), 10);
    let accounts: Value = app
        .client
        .get(app.url("/api/v1/accounts"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clerk_id = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "clerk.sun")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body: Value = get(&format!(
        "?object=account:{clerk_id}&outcome=succeeded&per_page=200"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let entries = body["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["object"] == format!("account:{clerk_id}"))
    );
    // created, signed in, changed its password, 60 toggles
    assert_eq!(entries.len(), 63, "{body}");
    let response = get("?outcome=maybe&per_page=500").await.unwrap();
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
    let response = get("?from=yesterday").await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "INVALID_QUERY").await;
    // (Disabling ended the clerk's session; another clerk asks.)
    let other_clerk = app.staff("clerk.zhou", &["acceptor"]).await;
    let response = app
        .client
        .get(app.url("/api/v1/audit"))
        .bearer_auth(&other_clerk.token)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN, "ROLE_NOT_PERMITTED").await;

    // An entry edited behind the system's back shows on the page.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.db().url())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE audit_log SET detail_json = '{}' WHERE id = \
         (SELECT id FROM audit_log WHERE action = 'account.disable' ORDER BY occurred_at LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let page = supervisor.page("/audit", StatusCode::OK).await;
    assert!(page.contains("审计链已被改动"), "{page}");
    assert!(page.contains("记录已被改动"), "{page}");
}

async fn request(person: &Person, method: &str, path: &str) -> Response {
    match method {
        "GET" => person.get(path).await,
        _ => person.post(path, &[("roles", "acceptor")]).await,
    }
}

/// Who may open each page: anonymous people go to sign in, the wrong role
/// gets a Chinese refusal page, everyone else the page (or its own 404/422).
#[tokio::test]
async fn every_page_route_allows_exactly_the_expected_roles() {
    const ROLES: [&str; 7] = [
        "acceptor",
        "processor",
        "feedback",
        "supervisor",
        "admin",
        "bank_teller",
        "employer",
    ];
    let pages: [(&str, &str, &[&str]); 10] = [
        ("GET", "/workbench", &ROLES),
        ("GET", "/password", &ROLES),
        ("GET", "/admin/accounts", &["admin"]),
        ("POST", "/admin/accounts", &["admin"]),
        ("GET", "/admin/accounts/nobody", &["admin"]),
        ("POST", "/admin/accounts/nobody/disable", &["admin"]),
        ("POST", "/admin/accounts/nobody/enable", &["admin"]),
        ("POST", "/admin/accounts/nobody/reset-password", &["admin"]),
        ("POST", "/admin/accounts/nobody/roles", &["admin"]),
        ("GET", "/audit", &["supervisor", "admin"]),
    ];
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for role in ROLES {
        let username = format!("pages.{}", role.replace('_', "-"));
        let (person, _) = signed_in(&app, &username, "测试", &[role]).await;
        people.push((role, person));
    }
    let anonymous = Person::new(&app);
    for (method, path, allowed) in pages {
        let response = request(&anonymous, method, path).await;
        assert_eq!(location(&response), "/signin", "anonymous {method} {path}");
        for (role, person) in &people {
            let response = request(person, method, path).await;
            if allowed.contains(role) {
                assert!(
                    !matches!(
                        response.status(),
                        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::SEE_OTHER
                    ),
                    "{role} may {method} {path}: {}",
                    response.status()
                );
            } else {
                let page = html(response, StatusCode::FORBIDDEN).await;
                assert!(
                    page.contains("此功能仅限"),
                    "{role} {method} {path}: {page}"
                );
            }
        }
    }
    for path in ["/signin", "/"] {
        anonymous.page(path, StatusCode::OK).await;
    }
}

/// The only administrator locked out: the operator resets the password on the
/// server with `sscard user reset-password`, and the lock is lifted.
#[tokio::test]
async fn an_operator_resets_a_locked_out_password_from_the_command_line() {
    let app = TestApp::spawn().await;
    let (initial, totp) = create(&app, "admin.zhao", "赵磊", &["admin"]).await;
    let person = Person::new(&app);
    for _ in 0..5 {
        person
            .sign_in("admin.zhao", "Wrong-Password-1", totp.as_deref())
            .await;
    }
    let response = person
        .sign_in("admin.zhao", &initial, totp.as_deref())
        .await;
    let page = html(response, StatusCode::FORBIDDEN).await;
    assert!(page.contains("账号已被锁定"));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["user", "reset-password", "admin.zhao"])
        .env("SSCARD_DATABASE_URL", app.db().url())
        .env("SSCARD_KEY_FILE", app.db().key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("已重置账号 admin.zhao 的密码"), "{stdout}");
    let reset = stdout
        .lines()
        .find_map(|line| line.strip_prefix("初始密码（只显示这一次，首次登录后须修改）: "))
        .expect("the new initial password")
        .trim()
        .to_owned();

    let response = person
        .sign_in("admin.zhao", &initial, totp.as_deref())
        .await;
    html(response, StatusCode::UNAUTHORIZED).await;
    let response = person.sign_in("admin.zhao", &reset, totp.as_deref()).await;
    assert_eq!(location(&response), "/password");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["user", "reset-password", "nobody"])
        .env("SSCARD_DATABASE_URL", app.db().url())
        .env("SSCARD_KEY_FILE", app.db().key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("没有用户名为“nobody”的账号"));
}
