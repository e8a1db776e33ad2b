//! Signing in as a person does it, in Debian's Chromium (`common/browser.rs`):
//! an operator creates the account with `sscard user add`, the clerk signs in
//! on the page, replaces the initial password and reaches the workbench of
//! their roles; and five wrong passwords show the lock-out on the page.
//! Screenshots are kept under `target/tmp/screenshots/`.

mod common;

use std::process::Command;

use common::browser::{browser, click, fill, screenshot, texts, wait_for_path, wait_for_text};
use common::{TestApp, TestDb};
use fantoccini::Locator;

/// `sscard user add …` on the test database, as an operator runs it; gives
/// the one-time initial password it prints.
fn user_add(db: &TestDb, args: &[&str]) -> String {
    user_add_with_totp(db, args).0
}

/// `sscard user add …`; gives the initial password and the TOTP secret
/// (printed for admins and supervisors).
fn user_add_with_totp(db: &TestDb, args: &[&str]) -> (String, Option<String>) {
    let output = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(["user", "add"])
        .args(args)
        .env("SSCARD_DATABASE_URL", db.url())
        .env("SSCARD_KEY_FILE", db.key_file())
        .env("SSCARD_LOG", "warn")
        .output()
        .expect("run sscard user add");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sscard user add failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|value| value.trim().to_owned())
    };
    (
        printed("初始密码（只显示这一次，首次登录后须修改）: ")
            .unwrap_or_else(|| panic!("no initial password in: {stdout}")),
        printed("动态口令密钥（请录入身份验证器应用）: "),
    )
}

#[tokio::test]
async fn a_new_clerk_signs_in_replaces_the_initial_password_and_reaches_the_workbench() {
    let app = TestApp::spawn().await;
    let initial = user_add(
        app.db(),
        &[
            "--username",
            "clerk.li",
            "--role",
            "acceptor,processor,feedback",
            "--display-name",
            "李明",
        ],
    );
    let (_driver, client) = browser().await;

    // Work pages send a person who is not signed in to the sign-in page.
    client.goto(&app.url("/workbench")).await.expect("open");
    wait_for_path(&client, "/signin").await;
    assert_eq!(texts(&client, "header h1").await, ["工作人员登录"]);

    fill(&client, "#username", "clerk.li").await;
    fill(&client, "#password", &initial).await;
    click(&client, "#submit").await;

    // First the initial password must go.
    wait_for_path(&client, "/password").await;
    wait_for_text(&client, "#password h2", "首次登录，请先修改初始密码").await;
    fill(&client, "#current_password", &initial).await;
    fill(&client, "#new_password", "liujiang").await;
    fill(&client, "#repeat_password", "liujiang").await;
    click(&client, "#submit").await;
    let errors = wait_for_text(&client, "#errors", "密码至少 12 位。").await;
    assert!(
        errors.contains("密码须包含大写字母、小写字母、数字、符号中的至少三类。"),
        "every problem at once: {errors}"
    );

    fill(&client, "#current_password", &initial).await;
    fill(&client, "#new_password", "Liujiang-318-Window").await;
    fill(&client, "#repeat_password", "Liujiang-318-Window").await;
    click(&client, "#submit").await;

    // The workbench of a window clerk, as the clerk reads it.
    wait_for_path(&client, "/workbench?notice=password-changed").await;
    assert_eq!(texts(&client, "#hello").await, ["您好，李明"]);
    assert_eq!(
        texts(&client, "#greeting .role").await,
        ["受理岗", "经办岗", "反馈岗"]
    );
    let notice = texts(&client, "#notice").await.join("");
    assert!(notice.contains("密码已修改"), "{notice}");
    let acceptor = texts(&client, "#role-acceptor").await.join("");
    assert!(acceptor.contains("收件与受理") && acceptor.contains("一次性告知"));
    let processor = texts(&client, "#role-processor").await.join("");
    assert!(processor.contains("审查与决定") && processor.contains("1 个工作日"));
    let feedback = texts(&client, "#role-feedback").await.join("");
    assert!(feedback.contains("颁证与送达") && feedback.contains("业务反馈单"));
    // Each step's work leads to its queue of cases and of employer batches.
    let mut links = Vec::new();
    for link in client
        .find_all(Locator::Css(
            "#role-acceptor a, #role-processor a, #role-feedback a",
        ))
        .await
        .unwrap()
    {
        links.push(link.attr("href").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        links,
        [
            "/cases?queue=submitted",
            "/cases/new",
            "/consultations",
            "/batches?state=submitted",
            "/cases?queue=awaiting_processing",
            "/batches?state=awaiting_processing",
            "/cases?queue=awaiting_feedback",
            "/batches?state=awaiting_feedback"
        ],
        "the work of each step opens its queue"
    );
    let nav = texts(&client, "header nav").await.join("");
    assert!(nav.contains("李明（clerk.li）"), "{nav}");
    assert!(
        !nav.contains("账号管理") && !nav.contains("审计日志"),
        "{nav}"
    );
    let sign_out = client.find(Locator::Css("#signout")).await.unwrap();
    assert_eq!(sign_out.text().await.unwrap(), "退出登录");
    assert!(sign_out.is_displayed().await.unwrap());
    screenshot(&client, "workbench-desktop.png").await;

    // Signing out ends the session: the workbench needs a new sign-in.
    click(&client, "#signout").await;
    wait_for_path(&client, "/signin?notice=signed-out").await;
    wait_for_text(&client, "#notice", "您已安全退出登录。").await;
    client.goto(&app.url("/workbench")).await.expect("open");
    wait_for_path(&client, "/signin").await;

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn five_wrong_passwords_show_the_lock_out_on_the_page() {
    let app = TestApp::spawn().await;
    user_add(
        app.db(),
        &["--username", "clerk.wang", "--role", "acceptor"],
    );
    let (_driver, client) = browser().await;
    client.goto(&app.url("/signin")).await.expect("open");

    for remaining in (1..=4).rev() {
        fill(&client, "#username", "clerk.wang").await;
        fill(&client, "#password", "Wrong-Password-1").await;
        click(&client, "#submit").await;
        wait_for_text(&client, "#error", &format!("再错 {remaining} 次")).await;
    }
    fill(&client, "#username", "clerk.wang").await;
    fill(&client, "#password", "Wrong-Password-1").await;
    click(&client, "#submit").await;
    let error = wait_for_text(&client, "#error", "账号已被锁定").await;
    assert!(error.contains("15 分钟后再试"), "{error}");
    assert!(error.contains("联系系统管理员重置"), "{error}");
    let username = client
        .find(Locator::Css("#username"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        username.as_deref(),
        Some("clerk.wang"),
        "the username stays"
    );
    screenshot(&client, "signin-locked.png").await;

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn an_admin_creates_an_account_and_reads_the_audit_trail() {
    let app = TestApp::spawn().await;
    let (initial, secret) = user_add_with_totp(
        app.db(),
        &[
            "--username",
            "admin.qian",
            "--role",
            "admin",
            "--display-name",
            "钱进",
        ],
    );
    let secret = secret.expect("admins get a TOTP secret");
    let (_driver, client) = browser().await;
    client.goto(&app.url("/signin")).await.expect("open");
    fill(&client, "#username", "admin.qian").await;
    fill(&client, "#password", &initial).await;
    let code = sscard::service::accounts::current_totp(&secret).expect("a TOTP code");
    fill(&client, "#totp", &code).await;
    click(&client, "#submit").await;
    wait_for_path(&client, "/password").await;
    fill(&client, "#current_password", &initial).await;
    fill(&client, "#new_password", "Liujiang-318-Window").await;
    fill(&client, "#repeat_password", "Liujiang-318-Window").await;
    click(&client, "#submit").await;
    wait_for_path(&client, "/workbench?notice=password-changed").await;
    assert_eq!(texts(&client, "#greeting .role").await, ["系统管理员"]);

    // 账号管理: a window clerk with all three step roles.
    click(&client, "#role-admin a[href='/admin/accounts']").await;
    wait_for_path(&client, "/admin/accounts").await;
    fill(&client, "#username", "clerk.sun").await;
    fill(&client, "#display_name", "孙丽").await;
    for role in ["acceptor", "processor", "feedback"] {
        click(&client, &format!("#create input[value='{role}']")).await;
    }
    click(&client, "#create-account").await;
    wait_for_text(&client, "#secret h2", "账号已创建：clerk.sun（孙丽）").await;
    let shown = texts(&client, "#secret").await.join("\n");
    assert!(shown.contains("受理岗、经办岗、反馈岗"), "{shown}");
    assert!(shown.contains("只显示这一次"), "{shown}");
    let password = texts(&client, "#initial-password").await.join("");
    assert_eq!(password.len(), 16, "{password}");
    screenshot(&client, "admin-account-created.png").await;

    client
        .goto(&app.url("/admin/accounts"))
        .await
        .expect("open");
    let row = texts(&client, "#account-clerk\\.sun").await.join(" ");
    assert!(row.contains("孙丽") && row.contains("待修改"), "{row}");
    screenshot(&client, "admin-accounts.png").await;

    // 审计日志: the creation, by whom, and an intact chain.
    click(&client, "header nav a[href='/audit']").await;
    wait_for_path(&client, "/audit").await;
    let verify = texts(&client, "#verify").await.join("");
    assert!(verify.starts_with("审计链完整"), "{verify}");
    let newest = texts(&client, "tr.entry").await;
    assert!(
        newest[0].contains("创建账号（account.create）")
            && newest[0].contains("钱进（admin.qian）"),
        "newest first: {newest:?}"
    );
    screenshot(&client, "audit.png").await;

    client.close().await.expect("close the browser");
}
