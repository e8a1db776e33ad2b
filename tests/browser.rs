//! The guide page as a person sees it, in Debian's Chromium driven through
//! WebDriver. The test command installs `chromium` and `chromium-driver`;
//! screenshots are kept under `target/tmp/screenshots/`.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} exists: install Debian's `chromium chromium-driver` (the test command scripts/test.sh does)")
        })
}

async fn browser() -> (Driver, Client) {
    let chromedriver = find_program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let chromium = find_program(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,2000", "--lang=zh-CN",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in Chromium");
    (driver, client)
}

fn screenshot_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(name)
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.expect(css) {
        texts.push(element.text().await.expect("text"));
    }
    texts
}

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

    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_path("guide-desktop.png"), png).expect("save screenshot");

    // A phone: nothing may run off the right edge.
    client.set_window_size(390, 844).await.expect("phone size");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_path("guide-phone.png"), png).expect("save screenshot");
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
