//! 网上办理 as a cardholder does it, in Debian's Chromium
//! (`common/browser.rs`): sign in by SMS code on `/my/signin`, fill the
//! 《社会保障卡服务申请表》 on `/my/apply` (one 预审 round with a wrong
//! mobile number first), submit, read the one-time notice the 受理岗 issued,
//! supplement a scan, and — after acceptance, processing and feedback by
//! staff over the API — read 已办结（准予启用） with the card 正常. Also: the
//! form fits a 390 px phone. Screenshots are kept under
//! `target/tmp/screenshots/`.
//!
//! A second test walks the pages' edges over plain HTTP: redirects to the
//! citizen sign-in, an expired session, a staff cookie, another holder's
//! case, a cross-site post.

mod common;

use common::browser::{
    browser, click, fill, screenshot, texts, wait_for_path, wait_for_text, wait_for_url,
};
use common::cases::{PNG_SCAN, card_number};
use common::{TestApp, otp_in, valid_id_number};
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The page's HTML as the browser has it.
async fn source(client: &Client) -> String {
    client.source().await.expect("page source")
}

/// The text of the newest SMS.
async fn newest_sms(app: &TestApp) -> String {
    app.sms_outbox().await.into_iter().next().expect("an SMS").1
}

#[tokio::test]
async fn a_cardholder_applies_online_supplements_after_a_notice_and_ends_with_the_card_active() {
    let app = TestApp::spawn().await;
    let id_number = valid_id_number("45022119850315262");
    let name = "韦秀英";
    let number = card_number(315);
    app.register_person(&id_number, name, Some("13877212345"))
        .await;
    app.register_card(&id_number, &number, "collected").await;
    let acceptor = app.staff("shouli.wei", &["acceptor"]).await;
    let processor = app.staff("jingban.lu", &["processor"]).await;
    let feedback = app.staff("fankui.qin", &["feedback"]).await;
    let (_driver, client) = browser().await;

    // The cardholder's pages send a visitor who is not signed in to the
    // citizen sign-in page.
    client.goto(&app.url("/my/apply")).await.expect("open");
    wait_for_path(&client, "/my/signin").await;
    assert_eq!(texts(&client, "header h1").await, ["网上办理 · 持卡人登录"]);
    fill(&client, "#id_number", &id_number).await;
    fill(&client, "#name", name).await;
    click(&client, "#request-code").await;
    wait_for_text(&client, "#notice", "验证码已发送至预留手机号").await;
    screenshot(&client, "citizen-signin-code.png").await;
    let code = otp_in(&newest_sms(&app).await).expect("a code in the SMS");
    // The keyboard alone: type the code and press Enter.
    let field = client.find(Locator::Css("#code")).await.expect("#code");
    field
        .send_keys(&format!("{code}\u{E007}"))
        .await
        .expect("type the code and Enter");
    wait_for_path(&client, "/my").await;
    assert!(
        texts(&client, "#who").await.join("").contains(name),
        "the holder's name in the navigation"
    );
    wait_for_text(&client, "#no-cases", "您还没有提交过申请").await;

    // 网上申请: name and ID number come from the session, masked.
    click(&client, "#new-application").await;
    wait_for_path(&client, "/my/apply").await;
    assert_eq!(texts(&client, "#applicant-name").await, [name]);
    let shown_id = texts(&client, "#applicant-id").await.join("");
    assert!(
        shown_id.contains('*') && shown_id.ends_with(&id_number[14..]),
        "{shown_id}"
    );
    assert!(
        !source(&client).await.contains(&id_number),
        "the full ID number is not in the page"
    );
    let hint = texts(&client, "#card_number-hint").await.join("");
    assert!(hint.contains("已领卡未启用"), "{hint}");

    // 预审 with a wrong mobile number and no declaration: both at once,
    // next to their fields.
    fill(&client, "#mobile", "1387721234").await;
    fill(&client, "#address", "广西柳州市柳江区拉堡镇柳堡路318号").await;
    fill(&client, "#card_number", &number).await;
    click(&client, "#precheck-button").await;
    let summary = wait_for_text(&client, "#errors", "申请表有 2 处需要修改").await;
    let mobile_error = texts(&client, "#mobile-error").await.join("");
    assert!(mobile_error.contains("手机号码"), "{mobile_error}");
    let declaration_error = texts(&client, "#declaration-error").await.join("");
    assert!(declaration_error.contains("承诺"), "{declaration_error}");
    assert!(summary.contains(&mobile_error), "{summary}");
    let mobile = client.find(Locator::Css("#mobile")).await.unwrap();
    assert_eq!(
        mobile.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    // What was typed stays; the full ID number still is not in the page.
    let card = client.find(Locator::Css("#card_number")).await.unwrap();
    assert_eq!(card.prop("value").await.unwrap(), Some(number.clone()));
    assert!(!source(&client).await.contains(&id_number));
    screenshot(&client, "citizen-apply-precheck-errors.png").await;

    // Fixed: the pre-check passes, the own card verified by e-certificate.
    fill(&client, "#mobile", "13877212345").await;
    click(&client, "#declaration").await;
    click(&client, "#precheck-button").await;
    wait_for_text(&client, "#precheck-ok", "预审通过").await;
    assert!(
        client
            .find_all(Locator::Css("#errors"))
            .await
            .unwrap()
            .is_empty()
    );
    let materials = texts(&client, "#precheck-materials tbody tr")
        .await
        .join("\n");
    assert!(materials.contains("电子证照"), "{materials}");
    let declaration = client.find(Locator::Css("#declaration")).await.unwrap();
    assert_eq!(
        declaration.prop("checked").await.unwrap().as_deref(),
        Some("true")
    );
    click(&client, "#submit").await;
    let shown = wait_for_url(&client, "the case page", |shown| {
        shown.starts_with("/my/cases/SQ-") && shown.ends_with("?notice=submitted")
    })
    .await;
    let no = texts(&client, "#case-no").await.join("");
    assert!(shown.contains(&no), "{shown} {no}");
    wait_for_text(&client, "#case-status", "待受理").await;
    let step = texts(&client, "#case-step").await.join("");
    assert!(step.contains("收件与受理"), "{step}");
    assert!(!texts(&client, "#case-due").await.is_empty(), "a due date");
    assert!(!source(&client).await.contains(&id_number));
    screenshot(&client, "citizen-case-submitted.png").await;

    // The 受理岗 finds the form defective: a one-time notice.
    app.act(
        &acceptor.token,
        &no,
        "notify-missing",
        &json!({ "materials": [
            { "code": "application_form", "status": "defective", "reason": "申请表未签名" }
        ]}),
        StatusCode::OK,
    )
    .await;

    // 我的办件 lists it waiting for the holder; the case page shows the notice.
    client.goto(&app.url("/my")).await.expect("open");
    let row = texts(&client, "#cases tbody tr").await.join("\n");
    assert!(row.contains(&no) && row.contains("补正中"), "{row}");
    assert!(row.contains("等待您补正材料"), "{row}");
    click(&client, &format!("#cases a[href='/my/cases/{no}']")).await;
    wait_for_path(&client, &format!("/my/cases/{no}")).await;
    wait_for_text(&client, "#case-status", "补正中").await;
    let notice = texts(&client, "#notice-items").await.join("\n");
    assert!(notice.contains("社会保障卡服务申请表"), "{notice}");
    screenshot(&client, "citizen-case-notice.png").await;

    // Submitting without a scan: told what to do, on the same page.
    click(&client, "#supplement-submit").await;
    wait_for_text(&client, "#errors", "补正").await;
    let error = texts(&client, "#scan_application_form-error")
        .await
        .join("");
    assert!(error.contains("扫描件"), "{error}");

    // The supplement: a scan chosen in the file input.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let scan = dir.path().join("申请表扫描件.png");
    std::fs::write(&scan, PNG_SCAN).expect("write the scan");
    client
        .find(Locator::Css("#scan_application_form"))
        .await
        .expect("the file input")
        .send_keys(scan.to_str().expect("a UTF-8 path"))
        .await
        .expect("choose the file");
    click(&client, "#supplement-submit").await;
    wait_for_path(&client, &format!("/my/cases/{no}?notice=supplemented")).await;
    wait_for_text(&client, "#case-status", "待受理").await;
    assert!(
        client
            .find_all(Locator::Css("#one-time-notice"))
            .await
            .unwrap()
            .is_empty(),
        "no notice in force any more"
    );
    let materials = texts(&client, "#material-list tbody tr").await.join("\n");
    assert!(materials.contains("查看"), "{materials}");
    // The holder opens their own scan.
    let href = client
        .find(Locator::Css("#material-list a[href^='/my/uploads/']"))
        .await
        .expect("a link to the scan")
        .attr("href")
        .await
        .unwrap()
        .expect("href");
    let cookie = client
        .get_named_cookie("sscard_session")
        .await
        .expect("the session cookie");
    assert!(cookie.value().starts_with("c_"), "a citizen session");
    assert_eq!(cookie.http_only(), Some(true));
    let opened = app
        .client
        .get(app.url(&href))
        .header("cookie", format!("sscard_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert_eq!(opened.headers()["content-type"], "image/png");
    assert_eq!(opened.bytes().await.unwrap().as_ref(), PNG_SCAN);

    // Staff accept, approve and deliver.
    app.act(&acceptor.token, &no, "accept", &Value::Null, StatusCode::OK)
        .await;
    app.act(
        &processor.token,
        &no,
        "approve",
        &Value::Null,
        StatusCode::OK,
    )
    .await;
    app.act(
        &feedback.token,
        &no,
        "deliver",
        &Value::Null,
        StatusCode::OK,
    )
    .await;

    client
        .goto(&app.url(&format!("/my/cases/{no}")))
        .await
        .expect("open");
    wait_for_text(&client, "#case-status", "已办结（准予启用）").await;
    let result = texts(&client, "#result").await.join("\n");
    assert!(result.contains("正常"), "{result}");
    assert!(result.contains("网上下载"), "{result}");
    let steps = texts(&client, "#steps tbody tr").await;
    assert_eq!(steps.len(), 6, "{steps:?}");
    screenshot(&client, "citizen-case-completed.png").await;
    let (_, card) = app
        .get_as(&processor.token, &format!("/api/v1/cards/{number}"))
        .await;
    assert_eq!(card["social_state"]["code"], "normal", "{card}");

    // A phone: the form fits without sideways scrolling.
    client.set_window_size(390, 844).await.expect("phone size");
    client.goto(&app.url("/my/apply")).await.expect("open");
    wait_for_text(&client, "#applicant-name", name).await;
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             Array.from(document.querySelectorAll('body *')) \
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
               .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll_width, inner_width) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(inner_width <= 500, "the window is phone-sized: {widths}");
    assert!(
        scroll_width <= inner_width,
        "/my/apply fits a phone screen without sideways scrolling: {widths}"
    );
    screenshot(&client, "citizen-apply-phone.png").await;
    client
        .goto(&app.url(&format!("/my/cases/{no}")))
        .await
        .expect("open");
    let width = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        width[0].as_u64() <= width[1].as_u64(),
        "the case page fits a phone: {width}"
    );
    screenshot(&client, "citizen-case-phone.png").await;

    // Signing out ends the session.
    click(&client, "#signout").await;
    wait_for_path(&client, "/my/signin?notice=signed-out").await;
    client.goto(&app.url("/my")).await.expect("open");
    wait_for_path(&client, "/my/signin").await;

    client.close().await.expect("close the browser");
}

/// A page request with the session cookie.
async fn page(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.header("cookie", format!("sscard_session={token}"));
    }
    request.send().await.expect("GET")
}

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_cardholder_pages_admit_only_the_signed_in_holder_to_their_own_cases() {
    let app = TestApp::spawn().await;
    let holder = app
        .cardholder("45022119900101123", "张三", &card_number(1), "collected")
        .await;
    let no = app.apply_online(&holder, &card_number(1)).await;

    // Anonymous: to the citizen sign-in, for every page of the holder.
    for path in ["/my", "/my/apply", &format!("/my/cases/{no}")] {
        let response = page(&app, path, None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/my/signin", "{path}");
    }

    // The holder's own case, and no one else's: another holder gets 404.
    let response = page(&app, &format!("/my/cases/{no}"), Some(&holder.token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(&no) && html.contains("待受理"));
    assert!(!html.contains(&holder.id_number), "no full ID number");
    let other = app
        .cardholder("45022119910202234", "李四", &card_number(2), "collected")
        .await;
    let response = page(&app, &format!("/my/cases/{no}"), Some(&other.token)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("页面不存在"));
    let response = page(&app, "/my", Some(&other.token)).await;
    assert!(!response.text().await.unwrap().contains(&no));

    // A scan that is no PDF, JPEG or PNG: said next to its field, with every
    // other problem of the form, and nothing submitted.
    let form = reqwest::multipart::Form::new()
        .text("form_key", "test-key-0001")
        .text("mobile", "13877212345")
        .text("card_number", card_number(1))
        .text("delivery_method", "express")
        .text("declaration", "yes")
        .text("action", "submit")
        .part(
            "scan_application_form",
            reqwest::multipart::Part::bytes(b"not a scan at all".to_vec()).file_name("申请表.png"),
        );
    let response = app
        .client
        .post(app.url("/my/apply"))
        .header("cookie", format!("sscard_session={}", holder.token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("id=\"scan_application_form-error\""),
        "{html}"
    );
    assert!(html.contains("只接受 PDF、JPEG 或 PNG"), "{html}");
    assert!(html.contains("id=\"delivery_address-error\""), "{html}");
    assert!(!html.contains(&holder.id_number), "no full ID number");
    let (_, mine) = app.get_as(&holder.token, "/api/v1/applications").await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");

    // A staff session on the holder's pages: a clear Chinese page.
    let clerk = app.staff("window.zhou", &["acceptor"]).await;
    let response = page(&app, "/my", Some(&clerk.token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("此页面供办事群众本人使用"), "{html}");
    assert!(html.contains("工作人员账号"), "{html}");

    // A cross-site form post is refused before it reaches the form.
    let response = app
        .client
        .post(app.url("/my/signout"))
        .header("cookie", format!("sscard_session={}", holder.token))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = page(&app, "/my", Some(&holder.token)).await;
    assert_eq!(response.status(), StatusCode::OK, "still signed in");

    // An ended session: back to the sign-in, and the cookie goes.
    let response = app
        .client
        .delete(app.url("/api/v1/citizen/session"))
        .bearer_auth(&holder.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = page(&app, "/my", Some(&holder.token)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/my/signin?notice=expired");
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let response = page(&app, "/my/signin?notice=expired", None).await;
    assert!(response.text().await.unwrap().contains("登录已过期"));

    // A wrong code on the sign-in page: the page says so and keeps the form.
    let response = app
        .client
        .post(app.url("/my/signin"))
        .form(&[
            ("id_number", holder.id_number.as_str()),
            ("name", "张三"),
            ("code", "000000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"code\""), "the code field stays");
    assert!(html.contains("id=\"error\""), "{html}");
}
