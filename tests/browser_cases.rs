//! The staff's case pages as window clerks use them, in Debian's Chromium
//! (`common/browser.rs`): a walk-in completed in one sitting, an agent's
//! case through a one-time notice, a refusal for a person not insured in
//! Liuzhou, a denial for a card reported lost, and the queues on a desktop
//! and a phone. Screenshots are kept under `target/tmp/screenshots/`.

mod common;

use common::TestApp;
use common::browser::{
    browser, click, fill, screenshot, texts, wait_for_path_prefix, wait_for_text,
};
use common::cases::{card_number, id_number_for, window_form};
use fantoccini::{Client, Locator};
use reqwest::StatusCode;

async fn value_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn text_of(client: &Client, css: &str) -> String {
    texts(client, css).await.join("\n")
}

/// Signs in on the sign-in page as an account made by `TestApp::staff`.
async fn sign_in(client: &Client, app: &TestApp, username: &str, totp: Option<&str>) {
    client.goto(&app.url("/signin")).await.expect("open");
    fill(client, "#username", username).await;
    fill(client, "#password", "Liujiang-318-Window-2026").await;
    if let Some(secret) = totp {
        let code = sscard::service::accounts::current_totp(secret).expect("a TOTP code");
        fill(client, "#totp", &code).await;
    }
    click(client, "#submit").await;
    wait_for_path_prefix(client, "/workbench").await;
}

/// The person at the window and what they hand in.
struct WalkIn<'a> {
    name: &'a str,
    id_number: &'a str,
    card: &'a str,
    /// Name, ID number, mobile, relation.
    agent: Option<(&'a str, &'a str, &'a str, &'a str)>,
    /// Material code and status as checked.
    materials: &'a [(&'a str, &'a str)],
}

/// Fills the entry form of `/cases/new` (window, result at the window).
async fn fill_entry(client: &Client, walk_in: &WalkIn<'_>) {
    fill(client, "#applicant-name", walk_in.name).await;
    fill(client, "#applicant-id-number", walk_in.id_number).await;
    fill(client, "#applicant-mobile", "13977212345").await;
    fill(client, "#card-number", walk_in.card).await;
    if let Some((name, id, mobile, relation)) = walk_in.agent {
        fill(client, "#agent-name", name).await;
        fill(client, "#agent-id-number", id).await;
        fill(client, "#agent-mobile", mobile).await;
        fill(client, "#agent-relation", relation).await;
    }
    for (code, status) in walk_in.materials {
        click(client, &format!("#entry-{code}-{status}")).await;
    }
}

/// Enters a walk-in's form, pre-checks and submits it; gives the
/// application number from the case page it lands on.
async fn enter_walk_in(client: &Client, app: &TestApp, walk_in: &WalkIn<'_>) -> String {
    client.goto(&app.url("/cases/new")).await.expect("open");
    fill_entry(client, walk_in).await;
    click(client, "#declaration").await;
    click(client, "#precheck-button").await;
    wait_for_text(client, "#precheck", "预审通过").await;
    click(client, "#submit").await;
    wait_for_path_prefix(client, "/cases/SQ-").await;
    wait_for_text(client, "#notice", "申请已录入").await;
    text_of(client, "#fact-no").await
}

/// Whether the page fits a phone screen without sideways scrolling.
async fn assert_fits(client: &Client, what: &str) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             Array.from(document.querySelectorAll('body *')) \
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
               .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + (e.textContent || '').slice(0, 30))];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll_width, inner_width) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(inner_width <= 500, "the window is phone-sized: {widths}");
    assert!(
        scroll_width <= inner_width,
        "{what} fits a phone screen without sideways scrolling: {widths}"
    );
}

/// The card's social-security state as the API gives it.
async fn social_state(app: &TestApp, token: &str, number: &str) -> String {
    let (status, card) = app.get_as(token, &format!("/api/v1/cards/{number}")).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    card["social_state"]["label"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_walk_in_is_completed_in_one_sitting_at_the_window() {
    let app = TestApp::spawn().await;
    let id = id_number_for(11);
    app.register_person(&id, "黄明", Some("13977212345")).await;
    app.register_card(&id, &card_number(11), "collected").await;
    let clerk = app
        .staff("window.huang", &["acceptor", "processor", "feedback"])
        .await;
    let (_driver, client) = browser().await;
    sign_in(&client, &app, "window.huang", None).await;

    // The workbench leads to the entry form.
    let counts = text_of(&client, "#workbench-cases").await;
    assert!(
        counts.contains("待受理") && counts.contains("待经办"),
        "{counts}"
    );
    click(&client, "#workbench-enter").await;
    wait_for_path_prefix(&client, "/cases/new").await;

    let walk_in = WalkIn {
        name: "黄明",
        id_number: &id,
        card: &card_number(11),
        agent: None,
        materials: &[("application_form", "submitted"), ("own_card", "submitted")],
    };
    fill_entry(&client, &walk_in).await;
    // A mistyped mobile and no declaration: both shown at once.
    fill(&client, "#applicant-mobile", "1397721").await;
    click(&client, "#precheck-button").await;
    let errors = wait_for_text(&client, "#errors", "预审发现 2 处需要修改").await;
    assert!(errors.contains("申请人手机号码"), "{errors}");
    assert!(errors.contains("请阅读并勾选承诺"), "{errors}");
    let next_to_field = text_of(&client, "#applicant-mobile-error").await;
    assert!(next_to_field.contains("手机号码"), "{next_to_field}");
    assert_eq!(value_of(&client, "#applicant-name").await, "黄明", "kept");
    screenshot(&client, "case-entry-precheck-errors.png").await;

    fill(&client, "#applicant-mobile", "13977212345").await;
    click(&client, "#declaration").await;
    click(&client, "#precheck-button").await;
    let passed = wait_for_text(&client, "#precheck", "预审通过").await;
    assert!(passed.contains("申请材料齐全"), "{passed}");
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/cases/SQ-").await;
    wait_for_text(&client, "#notice", "申请已录入").await;
    assert_eq!(text_of(&client, "#case-status").await, "待受理");
    let facts = text_of(&client, "#facts").await;
    assert!(facts.contains("窗口办理"), "{facts}");
    assert!(facts.contains("第 44 版"), "{facts}");
    assert!(!facts.contains(&id), "the ID number is masked: {facts}");
    assert!(
        !facts.contains(&card_number(11)),
        "the card is masked: {facts}"
    );
    assert!(facts.contains("无（本人办理）"), "{facts}");
    let schedule = text_of(&client, "#schedule").await;
    assert!(schedule.contains("收件与受理") && schedule.contains("颁证与送达"));

    // 受理 → 经办 → 反馈 while the person waits.
    click(&client, "#accept").await;
    wait_for_text(&client, "#notice", "已受理").await;
    assert_eq!(text_of(&client, "#case-status").await, "待经办");
    click(&client, "#approve").await;
    wait_for_text(&client, "#notice", "已准予启用").await;
    assert_eq!(text_of(&client, "#case-status").await, "待反馈（准予启用）");
    click(&client, "#deliver-holder").await;
    click(&client, "#deliver").await;
    wait_for_text(&client, "#notice", "已登记送达").await;
    assert_eq!(text_of(&client, "#case-status").await, "已办结（准予启用）");
    let delivery = text_of(&client, "#case-delivery").await;
    assert!(delivery.contains("黄明（本人）"), "{delivery}");
    let steps = texts(&client, "#timeline tr.step").await;
    let actions: Vec<&str> = ["提交申请", "受理", "准予启用", "送达结果"].to_vec();
    assert_eq!(steps.len(), actions.len(), "{steps:?}");
    for (step, action) in steps.iter().zip(actions) {
        assert!(step.contains(action), "{step} is {action}");
        assert!(step.contains("window.huang"), "who: {step}");
    }
    let no_actions = text_of(&client, "#no-actions").await;
    assert!(no_actions.contains("无需再办理"), "{no_actions}");
    screenshot(&client, "case-walk-in-completed.png").await;

    // The card's social-security function is now 正常, on the lookup page too.
    assert_eq!(
        social_state(&app, &clerk.token, &card_number(11)).await,
        "正常"
    );
    click(&client, "header nav a[href='/staff/cards']").await;
    wait_for_path_prefix(&client, "/staff/cards").await;
    fill(&client, "#query", &card_number(11)).await;
    click(&client, "#submit").await;
    wait_for_text(&client, "#social-state-1", "正常").await;

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn an_agents_case_goes_through_a_one_time_notice_and_is_posted_back() {
    let app = TestApp::spawn().await;
    let id = id_number_for(12);
    app.register_person(&id, "覃丽", Some("13977212346")).await;
    app.register_card(&id, &card_number(12), "collected").await;
    let agent_id = id_number_for(112);
    app.staff("window.qin", &["acceptor", "processor", "feedback"])
        .await;
    let (_driver, client) = browser().await;
    sign_in(&client, &app, "window.qin", None).await;

    client.goto(&app.url("/cases/new")).await.expect("open");
    let walk_in = WalkIn {
        name: "覃丽",
        id_number: &id,
        card: &card_number(12),
        agent: Some(("韦强", &agent_id, "13877212399", "配偶")),
        materials: &[
            ("application_form", "submitted"),
            ("own_card", "submitted"),
            ("agent_id_card", "submitted"),
            ("agent_commitment", "missing"),
        ],
    };
    fill_entry(&client, &walk_in).await;
    click(&client, "#delivery-express").await;
    fill(&client, "#delivery-recipient", "覃丽").await;
    fill(&client, "#delivery-mobile", "13977212346").await;
    fill(
        &client,
        "#delivery-address",
        "广西柳州市柳江区拉堡镇柳堡路318号",
    )
    .await;
    click(&client, "#declaration").await;
    click(&client, "#precheck-button").await;
    // The form is right, but the commitment letter is missing.
    let precheck = wait_for_text(&client, "#precheck", "一次性告知书").await;
    assert!(precheck.contains("承诺书"), "{precheck}");
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/cases/SQ-").await;
    let agent = text_of(&client, "#fact-agent").await;
    assert!(agent.contains("韦强") && agent.contains("配偶"), "{agent}");
    assert!(!agent.contains(&agent_id), "masked: {agent}");
    let delivery = text_of(&client, "#fact-delivery").await;
    assert!(delivery.contains("快递寄送"), "{delivery}");
    let materials = text_of(&client, "#materials").await;
    assert!(
        materials.contains("受委托人的居民身份证原件"),
        "{materials}"
    );
    assert!(materials.contains("缺少"), "{materials}");

    // No acceptance with a material missing.
    click(&client, "#accept").await;
    let error = wait_for_text(&client, "#review-error", "材料不齐全").await;
    assert!(error.contains("承诺书"), "{error}");
    let next_to_it = text_of(&client, "#review-agent_commitment-error").await;
    assert!(next_to_it.contains("承诺书"), "{next_to_it}");
    assert_eq!(text_of(&client, "#case-status").await, "待受理");
    screenshot(&client, "case-agent-materials-incomplete.png").await;

    // The one-time notice lists it; the agent brings it back the next day.
    click(&client, "#notify-missing").await;
    wait_for_text(&client, "#notice", "一次性告知书").await;
    assert_eq!(text_of(&client, "#case-status").await, "补正中");
    let notice = text_of(&client, "#one-time-notice").await;
    assert!(notice.contains("承诺书"), "{notice}");
    let sms = app.sms_outbox().await;
    assert!(sms.iter().any(|(_, text)| text.contains("补正")), "{sms:?}");
    click(&client, "#supply-agent_commitment").await;
    click(&client, "#supplement-submit").await;
    wait_for_text(&client, "#notice", "已登记补正材料").await;
    assert_eq!(text_of(&client, "#case-status").await, "待受理");

    click(&client, "#accept").await;
    wait_for_text(&client, "#notice", "已受理").await;
    click(&client, "#approve").await;
    wait_for_text(&client, "#notice", "已准予启用").await;
    // Posted back at government cost.
    click(&client, "#deliver").await;
    let error = wait_for_text(&client, "#deliver-error", "送达登记信息不完整").await;
    assert!(error.contains("快递公司"), "{error}");
    fill(&client, "#carrier", "中国邮政EMS").await;
    fill(&client, "#waybill-no", "EMS1234567890").await;
    click(&client, "#deliver").await;
    wait_for_text(&client, "#notice", "已登记送达").await;
    assert_eq!(text_of(&client, "#case-status").await, "已办结（准予启用）");
    let delivered = text_of(&client, "#case-delivery").await;
    assert!(
        delivered.contains("EMS1234567890") && delivered.contains("政府支付"),
        "{delivered}"
    );
    let timeline = text_of(&client, "#timeline").await;
    for action in ["一次性告知", "补正材料", "窗口补正"] {
        assert!(timeline.contains(action), "{action} in {timeline}");
    }
    screenshot(&client, "case-agent-completed.png").await;

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn a_person_not_insured_in_liuzhou_is_refused_and_a_lost_card_is_denied() {
    let app = TestApp::spawn().await;
    let outsider = id_number_for(13);
    app.register_person_enrolled(&outsider, "陆远", "450102", "contributing")
        .await;
    app.register_card(&outsider, &card_number(13), "collected")
        .await;
    let lost = id_number_for(14);
    app.register_person(&lost, "蒙芳", Some("13977212347"))
        .await;
    app.register_card(&lost, &card_number(14), "temporarily_lost")
        .await;
    let clerk = app
        .staff("window.lu", &["acceptor", "processor", "feedback"])
        .await;
    let (_driver, client) = browser().await;
    sign_in(&client, &app, "window.lu", None).await;
    let materials = [("application_form", "submitted"), ("own_card", "submitted")];

    // Enrolled in 南宁 (450102), not in Liuzhou: 不予受理.
    enter_walk_in(
        &client,
        &app,
        &WalkIn {
            name: "陆远",
            id_number: &outsider,
            card: &card_number(13),
            agent: None,
            materials: &materials,
        },
    )
    .await;
    click(&client, "#accept").await;
    let error = wait_for_text(&client, "#review-error", "未参加柳州市社会保险").await;
    assert!(error.contains("不予受理"), "what to do: {error}");
    let failed = text_of(&client, "#failed").await;
    assert!(failed.contains("“受理”未办理成功"), "{failed}");
    assert_eq!(
        value_of(&client, "#refuse-code").await,
        "NOT_INSURED_IN_LIUZHOU"
    );
    screenshot(&client, "case-not-insured.png").await;
    click(&client, "#refuse").await;
    wait_for_text(&client, "#notice", "已作出不予受理决定").await;
    assert_eq!(text_of(&client, "#case-status").await, "不予受理");
    assert_eq!(
        text_of(&client, "#case-outcome-code").await,
        "NOT_INSURED_IN_LIUZHOU"
    );
    let reason = text_of(&client, "#case-outcome-reason").await;
    assert!(reason.contains("未参加柳州市社会保险"), "{reason}");
    screenshot(&client, "case-refused.png").await;

    // A card reported lost: 不予通过 with the reason from the card's state.
    enter_walk_in(
        &client,
        &app,
        &WalkIn {
            name: "蒙芳",
            id_number: &lost,
            card: &card_number(14),
            agent: None,
            materials: &materials,
        },
    )
    .await;
    click(&client, "#accept").await;
    wait_for_text(&client, "#notice", "已受理").await;
    click(&client, "#approve").await;
    let error = wait_for_text(&client, "#approve-error", "已挂失").await;
    assert!(error.contains("不予通过"), "what to do: {error}");
    assert_eq!(value_of(&client, "#deny-code").await, "CARD_REPORTED_LOST");
    assert_eq!(text_of(&client, "#case-status").await, "待经办");
    click(&client, "#deny").await;
    wait_for_text(&client, "#notice", "已作出不予通过决定").await;
    assert_eq!(text_of(&client, "#case-status").await, "待反馈（不予通过）");
    let reason = text_of(&client, "#case-outcome-reason").await;
    assert!(reason.contains("该社会保障卡已挂失"), "{reason}");
    click(&client, "#deliver").await;
    wait_for_text(&client, "#case-status", "已办结（不予通过）").await;
    let timeline = text_of(&client, "#timeline").await;
    assert!(timeline.contains("CARD_REPORTED_LOST"), "{timeline}");
    screenshot(&client, "case-denied-lost.png").await;
    assert_eq!(
        social_state(&app, &clerk.token, &card_number(14)).await,
        "临时挂失",
        "nothing is activated"
    );

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn the_queues_list_cases_flag_the_overdue_and_fit_a_phone() {
    let app = TestApp::spawn().await;
    let api_clerk = app.staff("api.clerk", &["acceptor"]).await;
    let mut numbers = Vec::new();
    for n in [15, 16] {
        let id = id_number_for(n);
        let name = if n == 15 { "韦一" } else { "韦二" };
        app.register_person(&id, name, Some("13977212345")).await;
        app.register_card(&id, &card_number(n), "collected").await;
        let (status, case) = app
            .post_as(
                &api_clerk.token,
                "/api/v1/applications",
                &window_form(&id, name, &card_number(n)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        numbers.push(case["application_no"].as_str().unwrap().to_owned());
    }
    // The first waited past its due date.
    let services = app.db().services().await;
    sqlx::query("UPDATE cases SET step_due = $1 WHERE application_no = $2")
        .bind("2020-01-06")
        .bind(numbers[0].clone())
        .execute(services.store().pool())
        .await
        .unwrap();

    app.staff("window.wei", &["acceptor"]).await;
    let (_driver, client) = browser().await;
    sign_in(&client, &app, "window.wei", None).await;
    let counts = text_of(&client, "#workbench-count-submitted").await;
    assert!(counts.contains('2'), "{counts}");
    click(&client, "#all-cases").await;
    wait_for_path_prefix(&client, "/cases").await;
    // The acceptor's own queue first; no 超期 list for a clerk.
    let queues = client
        .find_all(Locator::Css("section.queue"))
        .await
        .unwrap();
    assert_eq!(
        queues[0].attr("id").await.unwrap().as_deref(),
        Some("queue-submitted")
    );
    assert!(
        client
            .find_all(Locator::Css("#queue-overdue"))
            .await
            .unwrap()
            .is_empty()
    );
    let rows = texts(&client, "#queue-submitted tbody tr").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let overdue = texts(&client, "#queue-submitted tr.overdue").await;
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert!(
        overdue[0].contains(&numbers[0]) && overdue[0].contains("已超期"),
        "{overdue:?}"
    );
    assert!(overdue[0].contains("2020-01-06"), "{overdue:?}");
    assert!(overdue[0].contains("韦一"), "{overdue:?}");
    assert!(
        !overdue[0].contains(&card_number(15)),
        "masked: {overdue:?}"
    );
    screenshot(&client, "cases-queues-desktop.png").await;

    // Opened from the queue, on a phone.
    client.set_window_size(390, 844).await.expect("phone size");
    assert_fits(&client, "the queue page").await;
    screenshot(&client, "cases-queues-phone.png").await;
    click(&client, &format!("a[href='/cases/{}']", numbers[0])).await;
    wait_for_path_prefix(&client, &format!("/cases/{}", numbers[0])).await;
    let flag = text_of(&client, "#case-overdue").await;
    assert_eq!(flag, "已超期");
    assert_fits(&client, "the case page").await;
    screenshot(&client, "case-phone.png").await;
    client.goto(&app.url("/cases/new")).await.expect("open");
    assert_fits(&client, "the entry form").await;
    screenshot(&client, "case-entry-phone.png").await;

    // The keyboard alone: tab to the 受理 button and press Enter.
    client
        .set_window_size(1280, 2000)
        .await
        .expect("desktop size");
    client
        .goto(&app.url(&format!("/cases/{}", numbers[1])))
        .await
        .expect("open");
    let mut reached = false;
    for _ in 0..200 {
        client
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{e004}")
            .await
            .unwrap();
        let focused = client.active_element().await.unwrap();
        if focused.attr("id").await.unwrap().as_deref() == Some("accept") {
            focused.send_keys("\u{e007}").await.unwrap();
            reached = true;
            break;
        }
    }
    assert!(reached, "the 受理 button is reachable with Tab");
    wait_for_text(&client, "#notice", "已受理").await;

    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn a_supervisor_sees_the_overdue_cases_first() {
    let app = TestApp::spawn().await;
    let clerk = app.staff("api.clerk2", &["acceptor"]).await;
    let id = id_number_for(17);
    app.register_person(&id, "莫七", Some("13977212345")).await;
    app.register_card(&id, &card_number(17), "collected").await;
    let (_, case) = app
        .post_as(
            &clerk.token,
            "/api/v1/applications",
            &window_form(&id, "莫七", &card_number(17)),
        )
        .await;
    let no = case["application_no"].as_str().unwrap().to_owned();
    let services = app.db().services().await;
    sqlx::query("UPDATE cases SET step_due = $1 WHERE application_no = $2")
        .bind("2020-01-06")
        .bind(no.clone())
        .execute(services.store().pool())
        .await
        .unwrap();

    // A supervisor signs in with a one-time code (TOTP).
    let created = services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: "lead.mo".to_owned(),
                display_name: Some("莫督".to_owned()),
                roles: vec!["supervisor".to_owned()],
                bank_code: None,
                employer_uscc: None,
            },
            &sscard::service::Actor::system(),
        )
        .await
        .unwrap();
    let secret = created.totp.expect("a TOTP secret").secret_base32;
    let (_driver, client) = browser().await;
    client.goto(&app.url("/signin")).await.expect("open");
    fill(&client, "#username", "lead.mo").await;
    fill(&client, "#password", &created.initial_password).await;
    let code = sscard::service::accounts::current_totp(&secret).unwrap();
    fill(&client, "#totp", &code).await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/password").await;
    fill(&client, "#current_password", &created.initial_password).await;
    fill(&client, "#new_password", "Liujiang-318-Window-2026").await;
    fill(&client, "#repeat_password", "Liujiang-318-Window-2026").await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/workbench").await;
    let overdue = text_of(&client, "#workbench-count-overdue").await;
    assert!(
        overdue.contains("超期") && overdue.contains('1'),
        "{overdue}"
    );
    click(&client, "#role-supervisor a[href='/cases?queue=overdue']").await;
    wait_for_path_prefix(&client, "/cases").await;
    let rows = texts(&client, "#queue-overdue tbody tr").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains(&no) && rows[0].contains("已超期"),
        "{rows:?}"
    );
    // A supervisor reads the case but takes no step.
    click(&client, &format!("a[href='/cases/{no}']")).await;
    wait_for_path_prefix(&client, &format!("/cases/{no}")).await;
    let none = text_of(&client, "#no-actions").await;
    assert!(none.contains("您的岗位不能办理"), "{none}");
    screenshot(&client, "cases-supervisor-overdue.png").await;

    client.close().await.expect("close the browser");
}
