//! Test harness: the real server on port 0 against a fresh database.
//!
//! SQLite by default (a temp file); PostgreSQL when `SSCARD_TEST_POSTGRES_URL`
//! names an admin connection (e.g. `postgres://postgres@127.0.0.1:5432/postgres`):
//! each test then gets its own database, dropped afterwards.
#![allow(dead_code)]

pub mod bank;
pub mod batches;
pub mod browser;
pub mod cases;
pub mod node;
pub mod pages;

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::Value;
use sscard::store::DatabaseUrl;
use tokio::sync::oneshot;

pub const POSTGRES_ENV: &str = "SSCARD_TEST_POSTGRES_URL";

/// A fresh database for one test.
pub struct TestDb {
    url: String,
    kind: TestDbKind,
    /// Holds the data key file of this database.
    keys: tempfile::TempDir,
}

enum TestDbKind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var(POSTGRES_ENV) {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                let name = format!("sscard_test_{}", uuid::Uuid::new_v4().simple());
                let admin = connect_admin(&admin_url).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create the test database");
                admin.close().await;
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    kind: TestDbKind::Postgres { admin_url, name },
                    keys: tempfile::tempdir().expect("key dir"),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/sscard.db", dir.path().display());
                Self {
                    url,
                    kind: TestDbKind::Sqlite(dir),
                    keys: tempfile::tempdir().expect("key dir"),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data key file of this database (created at the first start).
    pub fn key_file(&self) -> std::path::PathBuf {
        self.keys.path().join("keys.json")
    }

    /// Prepares the services on this database, as `sscard serve` does.
    pub async fn services(&self) -> sscard::service::Services {
        let database_url = DatabaseUrl::parse(self.url()).expect("test database URL");
        sscard::server::prepare(&database_url, &self.key_file())
            .await
            .expect("prepare the server")
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, TestDbKind::Postgres { .. })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDbKind::Postgres { admin_url, name } = &self.kind {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let admin = connect_admin(&admin_url).await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                });
            })
            .join();
        }
    }
}

async fn connect_admin(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL admin URL in {POSTGRES_ENV}: {e}"))
}

fn replace_database(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("a valid PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A running sscard server.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    db: Option<TestDb>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::new().await).await
    }

    /// The server as tests usually want it: production settings, but rate
    /// limits no test exhausts (tests sign in many times from 127.0.0.1).
    pub fn test_config() -> sscard::http::HttpConfig {
        sscard::http::HttpConfig {
            rate_limits: sscard::http::RateLimits::relaxed(),
            ..sscard::http::HttpConfig::default()
        }
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_with(db, Self::test_config()).await
    }

    /// Starts the server with the given web configuration (e.g. the
    /// production rate limits of `HttpConfig::default()`).
    pub async fn spawn_with(db: TestDb, config: sscard::http::HttpConfig) -> Self {
        let services = db.services().await;
        Self::spawn_serving(db, config, services).await
    }

    /// Starts the server with services prepared by the test (e.g. another
    /// SMS gateway: `db.services().await.with_sms_gateway(…)`).
    pub async fn spawn_serving(
        db: TestDb,
        config: sscard::http::HttpConfig,
        services: sscard::service::Services,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = listener.local_addr().expect("local address");
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            sscard::server::serve(listener, services, config, async {
                let _ = shutdown_rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            db: Some(db),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET and decode the JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.json().await.expect("a JSON body"))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        (status, response.json().await.expect("a JSON body"))
    }

    pub fn db(&self) -> &TestDb {
        self.db
            .as_ref()
            .expect("the database lives as long as the app")
    }

    /// Stops the server gracefully, waits for it, and hands back its
    /// database (still there) for a restart or a look from outside.
    pub async fn stop(mut self) -> TestDb {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.db.take().expect("the database")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Checks that a response is a problem answer with the given status and code.
pub async fn assert_problem(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["title"].as_str().is_some_and(has_chinese),
        "Chinese title in {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(has_chinese),
        "Chinese detail in {body}"
    );
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["request_id"].as_str().is_some_and(|t| !t.is_empty()),
        "request id in {body}"
    );
    body
}

pub fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// A signed-in account for tests: its token and username.
pub struct SignedIn {
    pub username: String,
    pub token: String,
}

impl TestApp {
    /// Creates an account with `roles`, signs in, replaces the initial
    /// password and returns a token of a fully usable session.
    pub async fn staff(&self, username: &str, roles: &[&str]) -> SignedIn {
        let services = self.db().services().await;
        let bank_code = roles.contains(&"bank_teller").then(|| "ICBC".to_owned());
        let employer_uscc = roles.contains(&"employer").then(valid_uscc);
        let created = services
            .create_account(
                sscard::service::accounts::NewAccount {
                    username: username.to_owned(),
                    display_name: None,
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    bank_code,
                    employer_uscc,
                },
                &sscard::service::Actor::system(),
            )
            .await
            .expect("create the account");
        let totp = created.totp.as_ref().map(|t| t.secret_base32.clone());
        let token = self
            .sign_in(username, &created.initial_password, totp.as_deref())
            .await
            .expect("first sign-in");
        let new_password = "Liujiang-318-Window-2026";
        let response = self
            .client
            .post(self.url("/api/v1/session/password"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "current_password": created.initial_password,
                "new_password": new_password,
            }))
            .send()
            .await
            .expect("change password");
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "{}",
            response.text().await.unwrap()
        );
        SignedIn {
            username: username.to_owned(),
            token,
        }
    }

    /// Signs in; `Err` holds the problem answer.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        totp_secret: Option<&str>,
    ) -> Result<String, Value> {
        let totp = totp_secret.and_then(sscard::service::accounts::current_totp);
        let response = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({ "username": username, "password": password, "totp": totp }))
            .send()
            .await
            .expect("sign in");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        if status == StatusCode::CREATED {
            Ok(body["token"].as_str().expect("token").to_owned())
        } else {
            Err(body)
        }
    }
}

/// A valid unified social credit code for tests (check character computed).
pub fn valid_uscc() -> String {
    let first17 = "91450221MA5N0A1B2";
    let check = sscard_domain::identifiers::uscc_check_char(first17).expect("check char");
    format!("{first17}{check}")
}

/// A valid citizen ID number from its first 17 digits.
pub fn valid_id_number(first17: &str) -> String {
    let check = sscard_domain::identifiers::id_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// A signed-in citizen for tests.
pub struct CitizenSignedIn {
    pub person_id: String,
    pub id_number: String,
    pub name: String,
    pub token: String,
}

impl TestApp {
    /// Registers an insured person of 柳江区 through the registry service,
    /// with `mobile` on record; gives the person id.
    pub async fn register_person(
        &self,
        id_number: &str,
        name: &str,
        mobile: Option<&str>,
    ) -> String {
        let services = self.db().services().await;
        let record = sscard::service::registry::PersonInput {
            id_number: id_number.to_owned(),
            name: name.to_owned(),
            mobile: mobile.map(str::to_owned),
            address: None,
            employer_uscc: None,
            enrolment_region: "450206".to_owned(),
            enrolment_status: "contributing".to_owned(),
            enrolment_since: "2015-07-01".to_owned(),
        }
        .parse(sscard::clock::today_in_china())
        .expect("a valid person");
        services
            .register_person(&record, &sscard::service::Actor::system())
            .await
            .expect("register the person");
        let index = services.keyring().blind_index(
            sscard::service::registry::ID_NUMBER_INDEX,
            record.id_number.as_str(),
        );
        let mut conn = services
            .store()
            .pool()
            .acquire()
            .await
            .expect("a connection");
        sscard::store::registry::person_by_index(&mut conn, &index)
            .await
            .expect("look the person up")
            .expect("the person is registered")
            .id
    }

    /// The simulated SMS outbox, newest first: (masked number, text).
    pub async fn sms_outbox(&self) -> Vec<(String, String)> {
        self.db()
            .services()
            .await
            .sms_outbox(&sscard::service::Actor::system())
            .await
            .expect("the simulated outbox")
            .into_iter()
            .map(|message| (message.mobile_masked, message.text))
            .collect()
    }

    /// Registers a person with a mobile number, asks for a one-time code,
    /// reads it from the simulated outbox and signs in.
    pub async fn citizen(&self, first17: &str, name: &str) -> CitizenSignedIn {
        let id_number = valid_id_number(first17);
        let person_id = self
            .register_person(&id_number, name, Some("13877212345"))
            .await;
        let (status, body) = self
            .post_json(
                "/api/v1/citizen/otp",
                &serde_json::json!({ "id_number": id_number, "name": name }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (_, text) = self.sms_outbox().await.into_iter().next().expect("an SMS");
        let code = otp_in(&text).expect("a code in the SMS");
        let (status, body) = self
            .post_json(
                "/api/v1/citizen/session",
                &serde_json::json!({ "id_number": id_number, "name": name, "code": code }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        CitizenSignedIn {
            person_id,
            id_number,
            name: name.to_owned(),
            token: body["token"].as_str().expect("a token").to_owned(),
        }
    }
}

/// The 6-digit code in an SMS text.
pub fn otp_in(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(6).enumerate().find_map(|(i, window)| {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 6).copied();
        (window.iter().all(char::is_ascii_digit)
            && !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit()))
        .then(|| window.iter().collect())
    })
}

// ---------------------------------------------------------------------------
// Pages as a signed-in person's browser sees them

/// A browser-like client (no automatic redirects) carrying the session of
/// `token` as the page cookie.
pub fn page_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", format!("sscard_session={token}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

pub async fn post_form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}
