//! 好差评 as people do it, in Debian's Chromium (`common/browser.rs`): a
//! cardholder signs in by SMS code, opens their finished case and rates it
//! 非常不满意 with a comment; a supervisor signs in (password and TOTP),
//! opens 好差评 from the workbench, sees the share of the level and the
//! follow-up with its due day, records the rectification and the call-back
//! and closes it. Screenshots are kept under `target/tmp/screenshots/`.

mod common;

use common::browser::{browser, click, fill, screenshot, texts, wait_for_text, wait_for_url};
use common::cases::card_number;
use common::{TestApp, otp_in, valid_id_number};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::Value;
use sscard::service::Actor;
use sscard::service::accounts::{NewAccount, current_totp};

#[tokio::test]
async fn a_cardholder_rates_very_dissatisfied_and_a_supervisor_follows_it_up() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119870520331");
    let name = "莫𠈌";
    let number = card_number(520);
    app.register_person(&id_number, name, Some("13877212345"))
        .await;
    app.register_card(&id_number, &number, "collected").await;
    let clerk = app
        .staff("window.mo", &["acceptor", "processor", "feedback"])
        .await;
    let created = app
        .db()
        .services()
        .await
        .create_account(
            NewAccount {
                username: "supervisor.lan".to_owned(),
                display_name: Some("蓝督查".to_owned()),
                roles: vec!["supervisor".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &Actor::system(),
        )
        .await
        .expect("a supervisor");
    let secret = created.totp.expect("supervisors get TOTP").secret_base32;
    let (_driver, client) = browser().await;

    // The cardholder signs in by SMS code …
    client.goto(&app.url("/my/signin")).await.expect("open");
    fill(&client, "#id_number", &id_number).await;
    fill(&client, "#name", name).await;
    click(&client, "#request-code").await;
    wait_for_text(&client, "#notice", "验证码已发送至预留手机号").await;
    let sms = app.sms_outbox().await.into_iter().next().expect("an SMS").1;
    let code = otp_in(&sms).expect("a code in the SMS");
    fill(&client, "#code", &code).await;
    click(&client, "#submit").await;
    wait_for_url(&client, "/my", |shown| shown == "/my").await;

    // … and applies online (over the API, with the session the page
    // opened); the staff complete the case.
    let token = client
        .get_named_cookie("sscard_session")
        .await
        .expect("the session cookie")
        .value()
        .to_owned();
    let citizen = common::CitizenSignedIn {
        person_id: String::new(),
        id_number: id_number.clone(),
        name: name.to_owned(),
        token,
    };
    let no = app.apply_online(&citizen, &number).await;
    for action in ["accept", "approve", "deliver"] {
        app.act(&clerk.token, &no, action, &Value::Null, StatusCode::OK)
            .await;
    }

    // The finished case asks for a rating; the holder picks 非常不满意.
    client
        .goto(&app.url(&format!("/my/cases/{no}")))
        .await
        .expect("open the case");
    wait_for_text(&client, "#case-status", "已办结").await;
    let offered = texts(&client, "#rating label.check").await;
    assert_eq!(
        offered,
        ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    );
    click(&client, "#level-very_dissatisfied").await;
    fill(
        &client,
        "#rating-comment-input",
        "排队一个多小时，窗口只开了一个。<希望改进>",
    )
    .await;
    screenshot(&client, "rating-very-dissatisfied.png").await;
    click(&client, "#rate").await;
    wait_for_text(&client, "#notice", "感谢您的评价").await;
    assert_eq!(texts(&client, "#rating-level").await, ["非常不满意"]);
    assert_eq!(
        texts(&client, "#rating-comment").await,
        ["排队一个多小时，窗口只开了一个。<希望改进>"],
        "shown as typed, not as markup"
    );
    wait_for_text(&client, "#rating-follow-up", "整改回访").await;
    assert!(
        client
            .find_all(Locator::Css("#rate"))
            .await
            .unwrap()
            .is_empty(),
        "rated once: the form is gone"
    );
    let due = {
        let case = app.case_as(&citizen.token, &no).await;
        case["rating"]["follow_up"]["due_on"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    client
        .find(Locator::Css("#signout"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    wait_for_url(&client, "signed out", |shown| {
        !shown.starts_with("/my/cases")
    })
    .await;

    // A supervisor signs in (password and TOTP) and replaces the initial password.
    client.goto(&app.url("/signin")).await.expect("open");
    fill(&client, "#username", "supervisor.lan").await;
    fill(&client, "#password", &created.initial_password).await;
    fill(&client, "#totp", &current_totp(&secret).expect("a code")).await;
    click(&client, "#submit").await;
    wait_for_url(&client, "/password", |shown| shown == "/password").await;
    fill(&client, "#current_password", &created.initial_password).await;
    fill(&client, "#new_password", "Liujiang-318-Window").await;
    fill(&client, "#repeat_password", "Liujiang-318-Window").await;
    click(&client, "#submit").await;
    wait_for_url(&client, "the workbench", |shown| {
        shown.starts_with("/workbench")
    })
    .await;
    click(&client, "header nav a[href='/ratings']").await;
    wait_for_url(&client, "/ratings", |shown| shown == "/ratings").await;

    // The share of the level, and the open follow-up with its due day.
    let share = texts(&client, "#share-very_dissatisfied").await.join(" ");
    assert!(share.contains("1") && share.contains("100.0%"), "{share}");
    let card = format!("#follow-up-{no}");
    let shown = wait_for_text(&client, &card, "非常不满意").await;
    assert!(shown.contains("待整改"), "{shown}");
    assert!(shown.contains(&due), "due {due}: {shown}");
    assert!(
        shown.contains("排队一个多小时，窗口只开了一个。<希望改进>"),
        "{shown}"
    );
    screenshot(&client, "ratings-follow-up-open.png").await;

    // 整改情况 → 回访 → 办结.
    fill(
        &client,
        &format!("#rectification-{no}"),
        "高峰时段增开综合受理2号窗口，并在大厅增设取号引导。",
    )
    .await;
    click(&client, &format!("{card} button.rectify")).await;
    wait_for_text(&client, "#notice", "已登记整改情况").await;
    wait_for_text(&client, &card, "已整改，待回访").await;
    click(&client, &format!("{card} input[value='satisfied']")).await;
    fill(
        &client,
        &format!("#call-back-{no}"),
        "电话回访，申请人对整改表示满意。",
    )
    .await;
    click(&client, &format!("{card} button.call-back")).await;
    wait_for_text(&client, "#notice", "已登记回访结果").await;
    wait_for_text(&client, &card, "已回访，待办结").await;
    click(&client, &format!("{card} button.close")).await;
    wait_for_text(&client, "#notice", "整改回访已办结").await;
    wait_for_text(&client, "#no-follow-ups", "暂无待办结的整改回访").await;
    let closed = wait_for_text(&client, &format!("#closed-{no}"), "已办结").await;
    assert!(closed.contains("申请人对整改满意"), "{closed}");
    assert!(closed.contains("增开综合受理2号窗口"), "{closed}");
    screenshot(&client, "ratings-follow-up-closed.png").await;
    client.close().await.expect("close the browser");
    app.stop().await;
}
