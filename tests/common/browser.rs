//! Debian's Chromium driven through chromedriver (WebDriver, fantoccini), for
//! the browser tests. The test command installs `chromium` and
//! `chromium-driver`; screenshots are kept under `target/tmp/screenshots/`.
//! On a two-core machine one browser test binary runs at a time (see
//! `.config/nextest.toml`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver process, killed when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
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

/// Starts chromedriver and opens a headless Chromium session (desktop-sized
/// window, Chinese locale, a fresh profile).
pub async fn browser() -> (Driver, Client) {
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
        profile,
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
                format!("--user-data-dir={}", driver.profile.path().display()),
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

/// Where a screenshot called `name` is kept.
pub fn screenshot_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(name)
}

/// Saves a screenshot of the window as `name`.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_path(name), png).expect("save screenshot");
}

/// The visible text of every element matching `css`.
pub async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.expect(css) {
        texts.push(element.text().await.expect("text"));
    }
    texts
}

/// Like [`texts`], but a page that is being replaced (a stale element) is an
/// error rather than a panic, for polling while a form post navigates.
pub async fn try_texts(client: &Client, css: &str) -> Result<Vec<String>, CmdError> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await? {
        texts.push(element.text().await?);
    }
    Ok(texts)
}

/// How long the `wait_for_…` helpers wait before failing the test.
const WAIT: Duration = Duration::from_secs(15);

/// Waits until the browser shows a path (and query) for which `accept`
/// holds; gives it. `what` names the expectation in the failure.
pub async fn wait_for_url(client: &Client, what: &str, accept: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let url = client.current_url().await.expect("current URL");
        let shown = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        if accept(&shown) {
            return shown;
        }
        assert!(
            started.elapsed() < WAIT,
            "the browser stays at {shown}, expected {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the browser shows exactly `path_and_query`.
pub async fn wait_for_path(client: &Client, path_and_query: &str) {
    wait_for_url(client, path_and_query, |shown| shown == path_and_query).await;
}

/// Waits until the browser shows a path starting with `prefix`; gives the
/// path (without the query).
pub async fn wait_for_path_prefix(client: &Client, prefix: &str) -> String {
    let started = Instant::now();
    loop {
        let url = client.current_url().await.expect("current URL");
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        assert!(
            started.elapsed() < WAIT,
            "the browser stays at {url}, expected {prefix}…"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the elements `css` show text containing `expected`; gives
/// their text, joined by line breaks.
pub async fn wait_for_text(client: &Client, css: &str, expected: &str) -> String {
    wait_for_text_within(client, css, expected, WAIT.as_secs()).await
}

/// Like [`wait_for_text`], waiting up to `seconds`.
pub async fn wait_for_text_within(
    client: &Client,
    css: &str,
    expected: &str,
    seconds: u64,
) -> String {
    let started = Instant::now();
    loop {
        // While a form post navigates, elements of the old page go stale.
        let text = try_texts(client, css)
            .await
            .map(|texts| texts.join("\n"))
            .unwrap_or_default();
        if text.contains(expected) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "{css} shows {text:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `value` into the field `css`, replacing what it held.
pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear the field");
    field.send_keys(value).await.expect("type");
}

/// Clicks the element `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}
