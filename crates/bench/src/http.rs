//! The HTTP client of the workers: one keep-alive connection pool, JSON in
//! and out, and checks that say what was expected and what came.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// A client of one server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// An answer: status, JSON body (`Null` when there is none) and latency.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub latency: Duration,
}

impl Api {
    /// # Panics
    ///
    /// When the TLS-less client cannot be built (never in practice).
    pub fn new(base: &str, connections: usize) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(connections.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body, a bearer token and extra headers.
    ///
    /// # Errors
    ///
    /// The request could not be sent or its body read.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        Self::send(request, path).await
    }

    /// `GET path` with a bearer token.
    ///
    /// # Errors
    ///
    /// The request could not be sent or its body read.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<Answer, String> {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::send(request, path).await
    }

    async fn send(request: reqwest::RequestBuilder, path: &str) -> Result<Answer, String> {
        let began = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| format!("{path}: request failed: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{path}: body not read: {e}"))?;
        let latency = began.elapsed();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{path}: {status} with a body that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )
            })?
        };
        Ok(Answer {
            status,
            body,
            latency,
        })
    }
}

impl Answer {
    /// The answer has `status`, or an error naming what came instead.
    ///
    /// # Errors
    ///
    /// Another status.
    pub fn expect(self, status: StatusCode, what: &str) -> Result<Self, String> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!(
                "{what}: expected {status}, got {}: {}",
                self.status,
                short(&self.body)
            ))
        }
    }

    /// `body[field]` is the string `want`.
    ///
    /// # Errors
    ///
    /// Another value.
    pub fn field_is(&self, field: &str, want: &str, what: &str) -> Result<(), String> {
        match self.body.get(field).and_then(Value::as_str) {
            Some(value) if value == want => Ok(()),
            other => Err(format!(
                "{what}: expected {field} = {want:?}, got {other:?}: {}",
                short(&self.body)
            )),
        }
    }

    /// `body[field]` as a string.
    ///
    /// # Errors
    ///
    /// Missing or not a string.
    pub fn text(&self, field: &str, what: &str) -> Result<String, String> {
        self.body
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{what}: no {field} in {}", short(&self.body)))
    }
}

fn short(body: &Value) -> String {
    let text = body.to_string();
    text.chars().take(300).collect()
}
