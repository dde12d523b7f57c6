//! Shared by the export tests (`#[path]`-included): a running reporting API
//! on a fresh database, wiremock as Finance, and clicks stored with nothing
//! counted (through `storage::inspect`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use clap::Parser;
use reporting_api::{Application, Settings};
use serde_json::{Value, json};
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const KEY: &str = "test-key";
pub const DATE: &str = "2025-06-10";

pub fn date() -> NaiveDate {
    NaiveDate::parse_from_str(DATE, "%Y-%m-%d").expect("date")
}

pub fn settings(db: &TestDb, finance: &str, extra: &[&str]) -> Settings {
    let mut args = vec![
        "reporting-api".to_owned(),
        format!("--database-url={}", db.url),
        "--reporting-bind=127.0.0.1:0".to_owned(),
        format!("--reporting-api-keys={KEY}"),
        format!("--finance-service-url={finance}"),
        "--finance-service-timeout=5".to_owned(),
        "--finance-retry-base-ms=5".to_owned(),
        "--finance-max-retries=2".to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    Settings::try_parse_from(args).expect("settings")
}

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Api {
    pub async fn start(settings: Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = Application::build(settings, shutdown.clone())
            .await
            .expect("build");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            shutdown,
            client: reqwest::Client::new(),
        }
    }

    pub async fn forward(&self, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/api/export/forward", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .expect("forward");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    pub async fn status(&self, date: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/api/export/status?date={date}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("status");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Finance with a healthy `/health`; `/clicks` answered by `clicks`.
pub async fn finance(clicks: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    answer_with(&server, clicks).await;
    server
}

/// Makes `server` a healthy Finance that answers `/clicks` with `clicks`,
/// forgetting the mocks and requests it had.
pub async fn answer_with(server: &MockServer, clicks: impl Respond + 'static) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"})))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/clicks"))
        .respond_with(clicks)
        .mount(server)
        .await;
}

pub fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": "received"}))
}

/// Answers `/clicks` from a list by request number; the last entry repeats.
pub struct Script(Vec<ResponseTemplate>, AtomicUsize);

impl Script {
    pub fn new(responses: Vec<ResponseTemplate>) -> Self {
        Self(responses, AtomicUsize::new(0))
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.1.fetch_add(1, Ordering::SeqCst);
        self.0[n.min(self.0.len() - 1)].clone()
    }
}

pub async fn posts(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("recording")
        .into_iter()
        .filter(|r| r.url.path() == "/clicks")
        .collect()
}

pub fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("json body")
}

pub fn key(request: &Request) -> String {
    request
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .expect("Idempotency-Key")
        .to_owned()
}

pub fn click_ids(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| {
            body(r)["clicks"]
                .as_array()
                .expect("clicks")
                .iter()
                .map(|c| c["click_id"].as_str().expect("click_id").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Inserts clicks `first..first+count` of `date` (`c-<n>`), 5,000 per
/// statement, with nothing counted.
pub async fn insert_clicks(db: &TestDb, date: &str, first: u64, count: u64) {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    let clicks: Vec<domain::Click> = (first..first + count)
        .map(|i| domain::Click {
            click_id: format!("{date}-c-{i}"),
            offer_id: domain::OfferId::new(100 + i % 7).expect("positive"),
            source: format!("net_{}", i % 3),
            timestamp: day
                .and_hms_micro_opt(
                    12,
                    ((i / 60) % 60) as u32,
                    (i % 60) as u32,
                    (i % 1_000_000) as u32,
                )
                .expect("time")
                .and_utc(),
            signature: format!("sig-{i}"),
        })
        .collect();
    storage::inspect::load_uncounted_clicks(&db.conn, &clicks, 5000)
        .await
        .expect("insert clicks");
}

/// One click with an explicit id.
pub async fn insert_click_with_id(db: &TestDb, id: u64, click_id: &str, date: &str) {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    let click = domain::Click {
        click_id: click_id.to_owned(),
        offer_id: domain::OfferId::new(7).expect("positive"),
        source: "net".to_owned(),
        timestamp: day.and_hms_opt(8, 0, 0).expect("time").and_utc(),
        signature: "sig".to_owned(),
    };
    let inserted = storage::inspect::insert_clicks_with_ids(&db.conn, &[(id, click)])
        .await
        .expect("insert click");
    assert_eq!(inserted, 1, "click {click_id:?} inserted");
}
