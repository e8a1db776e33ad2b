//! Web hardening as a client meets it: security headers, the cross-site
//! refusal, rate limits, form size limits, request logs without personal
//! data, and the API docs rendering under their Content-Security-Policy in
//! Chromium.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{TestApp, TestDb, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sscard::http::HttpConfig;
use sscard::http::hardening::{DOCS_CSP, FORM_BODY_LIMIT, PAGE_CSP};

/// The server with the production settings (rate limits included).
async fn production() -> TestApp {
    TestApp::spawn_with(TestDb::new().await, HttpConfig::default()).await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn assert_common_headers(response: &reqwest::Response, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(header(response, name), Some(value), "{name} on {what}");
    }
    assert_eq!(
        header(response, "strict-transport-security"),
        None,
        "no HSTS over plain HTTP ({what})"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = production().await;

    let api = app.get("/api/v1/guide").await;
    assert_eq!(api.status(), StatusCode::OK);
    assert_common_headers(&api, "an API answer");
    assert_eq!(header(&api, "content-security-policy"), Some(PAGE_CSP));
    assert_eq!(header(&api, "cache-control"), Some("no-store"));

    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_common_headers(&page, "the guide page");
    let csp = header(&page, "content-security-policy").unwrap();
    assert_eq!(csp, PAGE_CSP);
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.split(';').any(|d| d.trim() == directive),
            "{directive} in {csp}"
        );
    }
    assert!(!csp.contains("unsafe"), "pages allow nothing inline: {csp}");
    assert_eq!(header(&page, "cache-control"), Some("no-store"));

    let problem = app.get("/api/v1/nothing-here").await;
    assert_common_headers(&problem, "a problem answer");
    assert_eq!(header(&problem, "cache-control"), Some("no-store"));
    assert_problem(problem, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let missing_page = app.get("/no-such-page").await;
    assert_eq!(missing_page.status(), StatusCode::NOT_FOUND);
    assert_common_headers(&missing_page, "the not-found page");

    // The stylesheet keeps its own caching; the other headers still apply.
    let css = app.get("/static/style.css").await;
    assert_common_headers(&css, "the stylesheet");
    assert_eq!(header(&css, "cache-control"), Some("public, max-age=3600"));
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_site_is_served_over_https() {
    let config = HttpConfig {
        secure_cookies: true,
        ..HttpConfig::default()
    };
    let app = TestApp::spawn_with(TestDb::new().await, config).await;
    for path in ["/", "/api/v1/guide", "/api/v1/nothing-here"] {
        let response = app.get(path).await;
        assert_eq!(
            header(&response, "strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_api_docs_have_their_own_policy_and_all_their_files_load() {
    let app = production().await;
    let redirect = app.get("/api/docs").await;
    assert!(redirect.status().is_redirection(), "{}", redirect.status());

    let index = app.get("/api/docs/").await;
    assert_eq!(index.status(), StatusCode::OK);
    assert_common_headers(&index, "the API docs");
    assert_eq!(header(&index, "content-security-policy"), Some(DOCS_CSP));
    let html = index.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "the docs page itself has no inline script or style, so script-src stays 'self': {html}"
    );

    let mut files: Vec<String> = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            let file = piece.split('"').next().unwrap();
            files.push(file.trim_start_matches("./").to_owned());
        }
    }
    assert!(
        files.iter().any(|f| f == "swagger-initializer.js"),
        "{files:?}"
    );
    assert!(files.len() >= 5, "scripts, styles and icons: {files:?}");
    for file in &files {
        let response = app.get(&format!("/api/docs/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(
            header(&response, "content-security-policy"),
            Some(DOCS_CSP),
            "{file}"
        );
    }
    let initializer = app
        .get("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "no document address sent to an online validator: {initializer}"
    );
    let (status, _) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Cross-site requests

const NEW_PASSWORD: &str = "Liujiang-318-Counter-2027";
const STAFF_PASSWORD: &str = "Liujiang-318-Window-2026";

fn password_change() -> Value {
    json!({"current_password": STAFF_PASSWORD, "new_password": NEW_PASSWORD})
}

#[tokio::test]
async fn a_cross_site_post_with_the_session_cookie_is_refused_before_the_handler() {
    let app = TestApp::spawn().await;
    let clerk = app.staff("clerk.csrf", &["acceptor"]).await;
    let cookie = format!("sscard_session={}", clerk.token);
    let url = app.url("/api/v1/session/password");

    for site in ["cross-site", "same-site"] {
        let refused = app
            .client
            .post(&url)
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .header("origin", "http://evil.example")
            .json(&password_change())
            .send()
            .await
            .unwrap();
        let body = assert_problem(refused, StatusCode::FORBIDDEN, "CSRF_REJECTED").await;
        assert!(
            body["detail"].as_str().unwrap().contains("其他网站"),
            "{body}"
        );
    }

    // The same request from our own pages goes through. It succeeds only
    // because the refused ones never reached the handler: had one changed the
    // password, the current password given here would be wrong.
    let accepted = app
        .client
        .post(&url)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{}", app.address))
        .json(&password_change())
        .send()
        .await
        .unwrap();
    assert_eq!(
        accepted.status(),
        StatusCode::NO_CONTENT,
        "{}",
        accepted.text().await.unwrap()
    );
    assert!(
        app.sign_in("clerk.csrf", NEW_PASSWORD, None).await.is_ok(),
        "the password was changed by the same-origin request"
    );
}

#[tokio::test]
async fn without_sec_fetch_site_the_origin_must_name_this_host() {
    let app = TestApp::spawn().await;
    let clerk = app.staff("clerk.origin", &["acceptor"]).await;
    let cookie = format!("sscard_session={}", clerk.token);
    let url = app.url("/api/v1/session/password");

    let foreign = app
        .client
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .json(&password_change())
        .send()
        .await
        .unwrap();
    assert_problem(foreign, StatusCode::FORBIDDEN, "CSRF_REJECTED").await;

    let own = app
        .client
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", format!("http://{}", app.address))
        .json(&password_change())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::NO_CONTENT);

    // No Sec-Fetch-Site and no Origin: not a browser's cross-site request.
    let (status, body) = app
        .post_json(
            "/api/v1/identifiers/check",
            &json!({"mobile": "13812345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bearer_token_requests_are_not_subject_to_the_cross_site_check() {
    let app = TestApp::spawn().await;
    let clerk = app.staff("clerk.bearer", &["acceptor"]).await;

    // A plain API client: no browser headers at all.
    let plain = app
        .client
        .post(app.url("/api/v1/session/password"))
        .bearer_auth(&clerk.token)
        .json(&password_change())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::NO_CONTENT);

    // Even with browser headers naming another site: a bearer token is never
    // sent by a browser on its own, so there is nothing to forge.
    let signed_out = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&clerk.token)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);

    // An empty bearer header buys no exemption.
    let empty_bearer = app
        .client
        .post(app.url("/api/v1/identifiers/check"))
        .header("authorization", "Bearer ")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"mobile": "13812345678"}))
        .send()
        .await
        .unwrap();
    assert_problem(empty_bearer, StatusCode::FORBIDDEN, "CSRF_REJECTED").await;
}

#[tokio::test]
async fn a_cross_site_form_post_to_a_page_gets_a_chinese_page() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/"))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
    let html = response.text().await.unwrap();
    assert!(html.contains("已拒绝来自其他网站的请求"), "{html}");
    assert!(html.contains("0772-7215670"), "{html}");

    // Reading pages cross-site (following a link) is never refused.
    let read = app
        .client
        .get(app.url("/"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Rate limits

async fn sign_in_attempt(app: &TestApp) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "nobody.here", "password": "Wrong-Password-1"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_eleventh_rapid_sign_in_attempt_is_refused_while_other_routes_go_on() {
    let app = production().await;
    for attempt in 1..=10 {
        let response = sign_in_attempt(&app).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt} reaches the sign-in"
        );
    }
    let refused = sign_in_attempt(&app).await;
    let retry_after: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(body["retry_after_seconds"], retry_after);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{retry_after} 秒后再试")),
        "{body}"
    );

    // Other routes, and other budgets, are untouched.
    let (status, _) = app.get_json("/api/v1/guide").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post_json(
            "/api/v1/identifiers/check",
            &json!({"mobile": "13812345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_sign_in_page_and_the_sign_in_api_share_one_budget() {
    let app = production().await;
    let page_attempt = || {
        app.client
            .post(app.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=nobody.here&password=Wrong-Password-1")
            .send()
    };
    for attempt in 1..=5 {
        assert_eq!(
            sign_in_attempt(&app).await.status(),
            StatusCode::UNAUTHORIZED,
            "API attempt {attempt}"
        );
        let page = page_attempt().await.unwrap();
        assert_ne!(
            page.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "page attempt {attempt}"
        );
    }
    let refused = page_attempt().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&refused, "retry-after").is_some());
    assert!(
        header(&refused, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = refused.text().await.unwrap();
    assert!(html.contains("登录尝试过于频繁"), "{html}");
    assert_problem(
        sign_in_attempt(&app).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
}

#[tokio::test]
async fn requesting_and_redeeming_citizen_codes_share_a_small_budget() {
    let app = production().await;
    // Empty requests: refused by the handlers, but each one counts.
    let attempt = |path: &'static str| app.client.post(app.url(path)).json(&json!({})).send();
    for path in [
        "/api/v1/citizen/otp",
        "/api/v1/citizen/session",
        "/api/v1/citizen/otp",
        "/api/v1/citizen/session",
        "/api/v1/citizen/otp",
    ] {
        let response = attempt(path).await.unwrap();
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    for path in ["/api/v1/citizen/otp", "/api/v1/citizen/session"] {
        let refused = attempt(path).await.unwrap();
        let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
        assert!((1..=12).contains(&retry_after), "{path}: {retry_after}");
        let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
        assert!(
            body["detail"].as_str().unwrap().contains("验证码"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_identifier_check_has_its_own_larger_budget() {
    let app = production().await;
    let check = json!({"mobile": "13812345678"});
    for attempt in 1..=60 {
        let (status, body) = app.post_json("/api/v1/identifiers/check", &check).await;
        assert_eq!(status, StatusCode::OK, "attempt {attempt}: {body}");
    }
    let refused = app
        .client
        .post(app.url("/api/v1/identifiers/check"))
        .json(&check)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert!(
        body["detail"].as_str().unwrap().contains("号码预审"),
        "{body}"
    );
    // The sign-in budget is separate.
    assert_eq!(
        sign_in_attempt(&app).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn raised_limits_let_the_same_burst_through() {
    let app = TestApp::spawn().await; // TestApp::test_config(): relaxed limits
    for attempt in 1..=15 {
        let response = sign_in_attempt(&app).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
}

// ---------------------------------------------------------------------------
// Request size

#[tokio::test]
async fn oversized_form_posts_are_refused_with_the_payload_too_large_answer() {
    let app = TestApp::spawn().await;
    let body = format!("note={}", "x".repeat(FORM_BODY_LIMIT));

    let api = app
        .client
        .post(app.url("/api/v1/identifiers/check"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(api, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    let page = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = page.text().await.unwrap();
    assert!(html.contains("请求内容过大"), "{html}");

    // JSON keeps its 64 KiB limit: 20 KiB of JSON is read and judged.
    let (status, body) = app
        .post_json(
            "/api/v1/identifiers/check",
            &json!({"mobile": "1".repeat(20 * 1024)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "mobile", "{body}");
}

// ---------------------------------------------------------------------------
// Logs

/// Everything the process logs at debug level, for the log test.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            // The server's side only: this process also runs the client.
            .with_env_filter("debug,reqwest=off,hyper_util::client=off")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        logs
    })
    .clone()
}

#[tokio::test]
async fn request_logs_carry_neither_query_strings_nor_bodies() {
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let id_number = "450221199003072518";
    let password = "Secret-Password-318";

    let with_query = app
        .get(&format!(
            "/api/v1/calendar/deadline?start=2026-03-02&id_number={id_number}"
        ))
        .await;
    let request_id = header(&with_query, "x-request-id").unwrap().to_owned();
    let (status, _) = app
        .post_json(
            "/api/v1/identifiers/check",
            &json!({"id_number": id_number}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let failed = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "clerk.nobody", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    drop(app);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains(&request_id) && text.contains("path=/api/v1/calendar/deadline"),
        "the request was logged with its path and id: {text}"
    );
    assert!(
        text.contains("path=/api/v1/identifiers/check"),
        "the POSTs were logged too"
    );
    assert!(
        !text.contains(id_number),
        "no ID number in the logs: {text}"
    );
    assert!(!text.contains("id_number="), "no query string in the logs");
    assert!(!text.contains(password), "no password in the logs");
}

// ---------------------------------------------------------------------------
// The policies in a real browser

mod browser {
    //! The browser tests' Chromium session (`common/browser.rs`), with a hook
    //! that records Content-Security-Policy violations from the first byte
    //! of every document.

    use fantoccini::Client;
    use fantoccini::wd::WebDriverCompatibleCommand;
    use serde_json::{Value, json};

    use super::common::browser::{Driver, browser};

    /// A Chrome DevTools command, through chromedriver.
    #[derive(Debug)]
    struct Cdp(Value);

    impl WebDriverCompatibleCommand for Cdp {
        fn endpoint(
            &self,
            base_url: &url::Url,
            session_id: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base_url.join(&format!(
                "session/{}/goog/cdp/execute",
                session_id.unwrap_or_default()
            ))
        }

        fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
            (axum::http::Method::POST, Some(self.0.to_string()))
        }
    }

    pub async fn start() -> (Driver, Client) {
        let (driver, client) = browser().await;
        client
            .issue_cmd(Cdp(json!({
                "cmd": "Page.addScriptToEvaluateOnNewDocument",
                "params": {"source":
                    "window.__csp = []; document.addEventListener('securitypolicyviolation', \
                     e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + \
                     e.sourceFile + ':' + e.lineNumber), true);"}
            })))
            .await
            .expect("install the violation recorder");
        (driver, client)
    }

    /// The violations recorded in the current document.
    pub async fn violations(client: &Client) -> Vec<Value> {
        let recorded = client
            .execute("return window.__csp;", vec![])
            .await
            .expect("read the recorder");
        recorded
            .as_array()
            .cloned()
            .expect("the recorder ran in this document")
    }
}

#[tokio::test]
async fn the_guide_and_the_api_docs_render_in_chromium_without_csp_violations() {
    use fantoccini::Locator;

    let app = TestApp::spawn().await;
    let (_driver, client) = browser::start().await;

    client.goto(&app.url("/")).await.expect("open the guide");
    client
        .find(Locator::Css("#materials"))
        .await
        .expect("the guide is shown");
    let styled = client
        .execute(
            "return getComputedStyle(document.querySelector('header.site')).display;",
            vec![],
        )
        .await
        .unwrap();
    assert!(styled.is_string(), "{styled}");
    assert_eq!(browser::violations(&client).await, Vec::<Value>::new());

    client
        .goto(&app.url("/signin"))
        .await
        .expect("open the sign-in page");
    client
        .find(Locator::Css("form[method=post] input[type=password]"))
        .await
        .expect("the sign-in form is shown");
    assert_eq!(browser::violations(&client).await, Vec::<Value>::new());

    client
        .goto(&app.url("/api/docs/"))
        .await
        .expect("open the API docs");
    let title = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".swagger-ui .info .title"))
        .await
        .expect("Swagger UI rendered the document's title");
    assert!(
        title.text().await.unwrap().contains("sscard"),
        "the OpenAPI document was loaded"
    );
    let operation = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".opblock .opblock-summary"))
        .await
        .expect("the operations are listed");
    operation.click().await.expect("open an operation");
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".opblock.is-open .opblock-body"))
        .await
        .expect("the operation's details are shown");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(browser::violations(&client).await, Vec::<Value>::new());

    client.close().await.expect("close the browser");
}
