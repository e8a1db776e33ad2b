//! The guide page as a person sees it, in Debian's Chromium driven through
//! WebDriver (`common/browser.rs`); screenshots are kept under
//! `target/tmp/screenshots/`.

mod common;

use common::TestApp;
use common::browser::{browser, screenshot, texts};
use fantoccini::Locator;

#[tokio::test]
async fn a_person_reads_the_guide_on_a_desktop_and_on_a_phone() {
    let app = TestApp::spawn().await;
    let (_driver, client) = browser().await;

    client
        .goto(&app.url("/"))
        .await
        .expect("open the guide page");
    let title = client.title().await.unwrap();
    assert!(title.contains("社会保障卡启用"), "title: {title}");
    let heading = texts(&client, "header h1").await;
    assert_eq!(heading, ["社会保障卡启用（含社会保障卡银行账户激活）"]);

    let steps = texts(&client, "#process tbody tr").await;
    assert_eq!(steps.len(), 3, "three steps: {steps:?}");
    assert!(steps[0].contains("受理") && steps[0].contains("受理岗人员"));
    assert!(steps[1].contains("经办") && steps[1].contains('1'));
    assert!(steps[2].contains("业务反馈单"));

    let materials = texts(&client, "#materials tbody tr").await;
    assert_eq!(materials.len(), 5, "five materials: {materials:?}");
    assert!(materials[0].contains("《社会保障卡服务申请表》"));
    assert!(materials.iter().any(|m| m.contains("通过基本证照凭证核验")));

    let window = texts(&client, "#window").await.join("\n");
    assert!(window.contains("周一至周五"), "hours shown: {window}");
    assert!(window.contains("9:00-12:00"));
    assert!(window.contains("13:00-16:00"));
    let query = client
        .find(Locator::Css("#query a[href]"))
        .await
        .expect("a link to the progress query");
    assert!(query.attr("href").await.unwrap().is_some());

    screenshot(&client, "guide-desktop.png").await;

    // A phone: nothing may run off the right edge.
    client.set_window_size(390, 844).await.expect("phone size");
    screenshot(&client, "guide-phone.png").await;
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             Array.from(document.querySelectorAll('body *')) \
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
               .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 30))];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll_width, inner_width) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(inner_width <= 500, "the window is phone-sized: {widths}");
    assert!(
        scroll_width <= inner_width,
        "the page fits a phone screen without sideways scrolling: {widths}"
    );

    client.close().await.expect("close the browser");
}
