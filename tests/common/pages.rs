//! A person's browser without JavaScript, for page tests: its own cookie
//! jar, no automatic redirects, and the headers a browser sends with a
//! same-origin form post; and the checks of the answers it gets.

use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use sscard::service::Actor;
use sscard::service::accounts::{NewAccount, current_totp};

use super::TestApp;

/// The password page tests set after the first sign-in.
pub const NEW_PASSWORD: &str = "Liujiang-318-Window";

/// One person's browser: a cookie jar, no automatic redirects, and the
/// headers a browser sends with a same-origin form post.
pub struct Person {
    pub client: reqwest::Client,
    pub origin: String,
}

impl Person {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            origin: app.url(""),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.origin))
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.origin))
            .header("origin", &self.origin)
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// GETs a page and checks that it is HTML with status `status`.
    pub async fn page(&self, path: &str, status: StatusCode) -> String {
        html(self.get(path).await, status).await
    }

    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        totp_secret: Option<&str>,
    ) -> Response {
        let totp = totp_secret.and_then(current_totp).unwrap_or_default();
        self.post(
            "/signin",
            &[
                ("username", username),
                ("password", password),
                ("totp", &totp),
            ],
        )
        .await
    }

    /// Creates an account with `roles`, signs in on the page and replaces
    /// the initial password.
    pub async fn signed_in(app: &TestApp, username: &str, roles: &[&str]) -> Self {
        let created = app
            .db()
            .services()
            .await
            .create_account(
                NewAccount {
                    username: username.to_owned(),
                    display_name: Some("测试".to_owned()),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    bank_code: roles.contains(&"bank_teller").then(|| "ICBC".to_owned()),
                    employer_uscc: roles.contains(&"employer").then(super::valid_uscc),
                },
                &Actor::system(),
            )
            .await
            .expect("create the account");
        let person = Self::new(app);
        let totp = created
            .totp
            .as_ref()
            .and_then(|t| current_totp(&t.secret_base32))
            .unwrap_or_default();
        let response = person
            .post(
                "/signin",
                &[
                    ("username", username),
                    ("password", &created.initial_password),
                    ("totp", &totp),
                ],
            )
            .await;
        assert_eq!(location(&response), "/password");
        let response = person
            .post(
                "/password",
                &[
                    ("current_password", &created.initial_password),
                    ("new_password", NEW_PASSWORD),
                    ("repeat_password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(location(&response), "/workbench?notice=password-changed");
        person
    }
}

/// The body of an HTML answer with the expected status.
pub async fn html(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    assert_eq!(actual, status, "status; page:\n{body}");
    assert!(
        content_type.starts_with("text/html"),
        "an HTML page, not {content_type}: {body}"
    );
    body
}

/// Where a redirect (303) sends the browser.
pub fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "a redirect");
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned()
}
