//! The webhook contract (contract: Webhooks) against a real Redis, one stream per test.
//!
//! This module holds what its submodules share: the app started per test, its
//! signed posts, and the entries it enqueued.

mod accepting;
mod access;
mod availability;
mod observability;
mod signatures;
mod validation;

use serde_json::{Value, json};
use testkit::TestStream;
use tokio_util::sync::CancellationToken;

const KEY: &str = "test-secret";

struct TestApp {
    base: String,
    client: reqwest::Client,
    stream: TestStream,
    shutdown: CancellationToken,
}

async fn spawn_with(extra: &[&str], redis_url: Option<&str>) -> TestApp {
    let stream = TestStream::create();
    let redis_url = redis_url.unwrap_or(&stream.redis_url).to_owned();
    let mut flags = vec![
        format!("--webhook-secret-key={KEY}"),
        format!("--redis-url={redis_url}"),
        format!("--clicks-queue-name={}", stream.key),
        "--http-workers=2".to_owned(),
    ];
    flags.extend(extra.iter().map(|a| (*a).to_owned()));
    let (base, shutdown, _running) = crate::support::launch(flags).await;
    TestApp {
        base,
        client: reqwest::Client::new(),
        stream,
        shutdown,
    }
}

async fn spawn() -> TestApp {
    spawn_with(&[], None).await
}

/// The `Retry-After` header of an answer, if it has one.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers.get("retry-after").and_then(|v| v.to_str().ok())
}

fn valid_click(id: &str) -> Value {
    json!({
        "click_id": id,
        "offer_id": 12345,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    })
}

impl TestApp {
    async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        signature: Option<String>,
        content_type: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// Posts `bytes` as JSON, signed with `key`.
    async fn post_bytes_signed_by(
        &self,
        key: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let signature = domain::sign(key.as_bytes(), &bytes);
        self.post_raw(path, bytes, Some(signature), "application/json")
            .await
    }

    /// Posts `body` signed with `KEY`, with extra headers; the raw response.
    async fn post_signed_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).expect("json");
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-signature", domain::sign(KEY.as_bytes(), &bytes));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(bytes).send().await.expect("post")
    }

    async fn post_signed(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let (status, body, _) = self.post_bytes_signed_by(KEY, path, bytes).await;
        (status, body)
    }

    /// `GET <path>`, as answered (an error when nothing answers).
    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(format!("{}{path}", self.base)).send().await
    }

    /// `GET /api/health`: its status and body.
    async fn health(&self) -> (u16, Value) {
        let response = self.get("/api/health").await.expect("health");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn entries(&self) -> Vec<domain::StreamClick> {
        let mut conn = self.stream.conn().await;
        clickstream::inspect::entries(&mut conn, &self.stream.key)
            .await
            .expect("xrange")
            .iter()
            .flat_map(|entry| {
                domain::stream_entry::decode_entry(&entry.fields).expect("decodable entry")
            })
            .collect()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.stream.drop().await;
    }
}
