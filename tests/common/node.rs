//! A real `sscard serve` process (the built binary), for tests that need
//! what only a process has: several nodes on one database, its own logs,
//! its own start-up. Each node listens on port 0 and tells its address in
//! the log line "sscard is serving: open http://ADDRESS/"; its standard
//! error is kept, line by line, for the test to read.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// How a node is started.
#[derive(Clone, Debug)]
pub struct NodeOptions<'a> {
    pub database_url: &'a str,
    pub key_file: &'a Path,
    /// The shared blob store (`SSCARD_BLOB_DIR`); the default otherwise.
    pub blob_dir: Option<&'a Path>,
    /// `text` or `json`.
    pub log_format: &'a str,
    /// `SSCARD_LOG`.
    pub log_level: &'a str,
    /// More `SSCARD_*` variables.
    pub env: Vec<(&'a str, String)>,
}

impl<'a> NodeOptions<'a> {
    pub fn new(database_url: &'a str, key_file: &'a Path) -> Self {
        Self {
            database_url,
            key_file,
            blob_dir: None,
            log_format: "json",
            log_level: "info,sqlx=warn,tower_http=info",
            env: Vec::new(),
        }
    }
}

/// A running `sscard serve`.
pub struct Node {
    child: Option<Child>,
    pub address: SocketAddr,
    pub client: reqwest::Client,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Starts the binary and waits (at most a minute) until it serves.
    pub fn start(options: &NodeOptions<'_>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sscard"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("SSCARD_CONFIG")
            .env("SSCARD_DATABASE_URL", options.database_url)
            .env("SSCARD_KEY_FILE", options.key_file)
            .env("SSCARD_LOG_FORMAT", options.log_format)
            .env("SSCARD_LOG", options.log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = options.blob_dir {
            command.env("SSCARD_BLOB_DIR", dir);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start sscard serve");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (serving_tx, serving) = mpsc::channel::<SocketAddr>();
        let mut readers = Vec::new();
        for pipe in [
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().expect("stdout")),
        ] {
            let lines = lines.clone();
            let serving_tx = serving_tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(address) = serving_address(&line) {
                        let _ = serving_tx.send(address);
                    }
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = loop {
            match serving.recv_timeout(Duration::from_millis(100)) {
                Ok(address) => break address,
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!(
                        "sscard serve did not start:\n{}",
                        lines.lock().unwrap().join("\n")
                    );
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(100));
                        panic!(
                            "sscard serve exited with {status}:\n{}",
                            lines.lock().unwrap().join("\n")
                        );
                    }
                }
            }
        };
        Self {
            child: Some(child),
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            lines,
            readers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every line the node has written so far (standard error and output).
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// `POST` JSON, with a bearer token if given; the status and the body
    /// (`Null` when it is not JSON).
    pub async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(body);
        }
        let response = request.send().await.expect("POST");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET` with a bearer token if given.
    pub async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("GET");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Stops the node with SIGTERM as systemd does, waits for it and gives
    /// its exit status and every line it wrote.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("a running node");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = child.wait().expect("wait for sscard");
        // The readers end with the pipes, after the last line.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (exit, self.log_lines())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The address in the "sscard is serving: open http://ADDRESS/" line, in
/// either log format.
fn serving_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split("sscard is serving: open http://").nth(1)?;
    rest.split('/').next()?.parse().ok()
}

/// Creates a staff account (as `sscard user add` does), signs in on
/// `sign_in_on` and replaces the initial password on `change_on`: a
/// session begun on one node is used on the other.
pub async fn staff(
    services: &sscard::service::Services,
    username: &str,
    roles: &[&str],
    sign_in_on: &Node,
    change_on: &Node,
) -> String {
    let created = services
        .create_account(
            sscard::service::accounts::NewAccount {
                username: username.to_owned(),
                display_name: None,
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                bank_code: None,
                employer_uscc: None,
            },
            &sscard::service::Actor::system(),
        )
        .await
        .expect("create the account");
    let (status, body) = sign_in_on
        .post(
            None,
            "/api/v1/session",
            &json!({ "username": username, "password": created.initial_password }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = change_on
        .post(
            Some(&token),
            "/api/v1/session/password",
            &json!({
                "current_password": created.initial_password,
                "new_password": "Liujiang-318-Window-2026",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    token
}

pub async fn act(node: &Node, token: &str, no: &str, action: &str, body: &Value) -> Value {
    let (status, answer) = node
        .post(
            Some(token),
            &format!("/api/v1/applications/{no}/{action}"),
            body,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{action} on {no} at {}: {answer}",
        node.address
    );
    answer
}
