//! The bank teller's counter page in Debian's Chromium (`common/browser.rs`),
//! on the demo data: the demo teller of ICBC signs in with the printed
//! initial password, activates a demo card's financial function, hears that
//! a second attempt finds it already active, and an attempt recorded as made
//! by an agent is refused with the guide FAQ's reason. Screenshots are kept
//! under `target/tmp/screenshots/`.

mod common;

use common::TestApp;
use common::browser::{
    browser, click, fill, screenshot, texts, wait_for_path_prefix, wait_for_text,
};
use fantoccini::{Client, Locator};
use sscard::service::demo::DemoOutcome;

/// The card and ID number the holder brings to the counter.
struct Holder {
    card_number: String,
    id_number: String,
}

/// Fills the counter form for the holder in person with the ID card read by
/// the card reader, and submits it.
async fn activate_in_person(client: &Client, app: &TestApp, holder: &Holder) {
    client.goto(&app.url("/bank")).await.expect("open /bank");
    fill(client, "#card_number", &holder.card_number).await;
    fill(client, "#id_number", &holder.id_number).await;
    click(client, "#presenter-holder").await;
    click(client, "#holder_present").await;
    click(client, "#verified-card-reader").await;
    click(client, "#submit").await;
}

#[tokio::test]
async fn a_teller_activates_a_demo_card_then_hears_it_is_active_and_refuses_an_agent() {
    let app = TestApp::spawn().await;
    let services = app.db().services().await;
    let DemoOutcome::Seeded { accounts, .. } = services
        .seed_demo(2026, &sscard::service::Actor::system())
        .await
        .expect("the demo data")
    else {
        panic!("an empty database is seeded");
    };
    let teller = accounts
        .iter()
        .find(|a| a.username == "teller.icbc")
        .expect("the demo teller");

    // A demo card of ICBC in its holder's hands, the account not activated.
    let today = sscard::clock::today_in_china()
        .format("%Y-%m-%d")
        .to_string();
    let (card_number, person_id, sealed): (String, String, String) = sqlx::query_as(
        "SELECT c.card_number, p.id, p.id_number_sealed FROM cards c JOIN persons p ON p.id = c.person_id \
         WHERE c.bank_code = 'ICBC' AND c.financial_state = 'not_activated' \
         AND c.social_state IN ('collected', 'normal') AND c.expiry_date > $1 \
         ORDER BY c.card_number LIMIT 1",
    )
    .bind(today)
    .fetch_one(services.store().pool())
    .await
    .expect("a demo card to activate");
    let id_number = services
        .open_sealed(
            &sealed,
            &sscard::store::registry::ID_NUMBER_SEALED.aad(&person_id),
        )
        .expect("the holder's ID number");
    let holder = Holder {
        card_number: card_number.clone(),
        id_number,
    };

    let (_driver, client) = browser().await;
    // The teller's first sign-in: the printed initial password, then a new one.
    client.goto(&app.url("/signin")).await.expect("open");
    fill(&client, "#username", "teller.icbc").await;
    fill(&client, "#password", &teller.initial_password).await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/password").await;
    fill(&client, "#current_password", &teller.initial_password).await;
    fill(&client, "#new_password", "Liujiang-Bank-Counter-2026").await;
    fill(&client, "#repeat_password", "Liujiang-Bank-Counter-2026").await;
    click(&client, "#submit").await;
    wait_for_path_prefix(&client, "/workbench").await;
    // The workbench leads to the counter page.
    let duty = texts(&client, "#role-bank_teller").await.join("\n");
    assert!(
        duty.contains("激活金融功能") && !duty.contains("即将开放"),
        "{duty}"
    );
    click(&client, "a[href='/bank']").await;
    wait_for_path_prefix(&client, "/bank").await;
    wait_for_text(&client, "#rule", "持卡人须本人持居民身份证原件到柜台").await;
    assert_eq!(
        texts(&client, "#teller-bank").await,
        ["中国工商银行柳州分行（ICBC）"]
    );

    // The holder in person: activated.
    activate_in_person(&client, &app, &holder).await;
    let message = wait_for_text(&client, "#result-message", "已激活").await;
    assert!(message.contains("金融功能已激活"), "{message}");
    assert_eq!(texts(&client, "#result-financial").await, ["已激活"]);
    let masked = texts(&client, "#result-card").await.join("");
    assert!(
        masked.contains("****") && !masked.contains(&card_number),
        "masked: {masked}"
    );
    let page = client.source().await.expect("page source");
    assert!(
        !page.contains(&holder.id_number),
        "the ID number is not echoed into the page"
    );
    screenshot(&client, "bank-activated.png").await;
    assert_eq!(
        app.card_view(&card_number).await.financial_state.code,
        "active"
    );

    // Again: already active, nothing changes.
    let history = app.card_view(&card_number).await.history.len();
    activate_in_person(&client, &app, &holder).await;
    let message = wait_for_text(&client, "#result-message", "此前已激活").await;
    assert!(message.contains("无须重复办理"), "{message}");
    assert_eq!(app.card_view(&card_number).await.history.len(), history);
    screenshot(&client, "bank-already-active.png").await;

    // Someone came for the holder: refused with the FAQ's reason.
    client.goto(&app.url("/bank")).await.expect("open /bank");
    fill(&client, "#card_number", &holder.card_number).await;
    fill(&client, "#id_number", &holder.id_number).await;
    click(&client, "#presenter-agent").await;
    click(&client, "#agent-details summary").await;
    fill(&client, "#agent_name", "李华").await;
    fill(&client, "#agent_relation", "配偶").await;
    click(&client, "#verified-visual").await;
    click(&client, "#submit").await;
    let error = wait_for_text(&client, "#error", "不能由他人代办").await;
    assert!(
        error.contains("人社部发〔2011〕83号")
            && error.contains("要求持卡人持个人身份证原件到柜台办理金融功能的激活手续"),
        "the guide FAQ's reason: {error}"
    );
    // The form keeps what was chosen, but not the ID number.
    let agent_checked = client
        .find(Locator::Css("#presenter-agent"))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(agent_checked.as_deref(), Some("true"));
    let id_value = client
        .find(Locator::Css("#id_number"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(id_value, "");
    screenshot(&client, "bank-agent-refused.png").await;

    // The refusal is in the audit trail, with the agent's relation.
    let refusals: Vec<String> = sqlx::query_scalar(
        "SELECT detail_json FROM audit_log WHERE action = 'card.financial_activation' AND outcome = 'refused'",
    )
    .fetch_all(services.store().pool())
    .await
    .unwrap();
    assert!(
        refusals
            .iter()
            .any(|d| d.contains("AGENT_NOT_ALLOWED_FOR_BANK") && d.contains("配偶")),
        "{refusals:?}"
    );
    client.close().await.expect("close the browser");
    app.stop().await;
}
