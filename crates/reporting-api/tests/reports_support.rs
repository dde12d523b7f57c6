//! Shared by the report tests (`#[path]`-included): a running reporting API
//! on a fresh database, and aggregates written the way the worker writes them.
#![allow(dead_code)]

use clap::Parser;
use reporting_api::{Application, Settings};
use serde_json::Value;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "test-key";

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Api {
    /// A server on `db`; `extra` flags are appended (e.g. `--report-cache-ttl-secs=0`).
    pub async fn start(db: &TestDb, extra: &[&str]) -> Self {
        Self::start_with_redis(db, testkit::DEFAULT_REDIS_URL, extra).await
    }

    pub async fn start_with_redis(db: &TestDb, redis_url: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "reporting-api".to_owned(),
            format!("--database-url={}", db.url),
            format!("--redis-url={redis_url}"),
            "--reporting-bind=127.0.0.1:0".to_owned(),
            format!("--reporting-api-keys={KEY}"),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let settings = Settings::try_parse_from(args).expect("settings");
        let shutdown = CancellationToken::new();
        let app = Application::build(settings, shutdown.clone())
            .await
            .expect("build");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            shutdown,
        }
    }

    /// GET `path_and_query` with the key; status, headers and body.
    pub async fn get_raw(&self, path_and_query: &str) -> reqwest::Response {
        self.get_raw_as(KEY, path_and_query).await
    }

    /// GET `path_and_query` with `key` as the bearer key.
    pub async fn get_raw_as(&self, key: &str, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    /// GET with `key`, expecting 200; the `X-Cache` header and the JSON body.
    pub async fn cached_as(&self, key: &str, path_and_query: &str) -> (String, Value) {
        let response = self.get_raw_as(key, path_and_query).await;
        assert_eq!(response.status().as_u16(), 200, "{path_and_query}");
        let cache = response.headers()["x-cache"]
            .to_str()
            .expect("ascii")
            .to_owned();
        (cache, response.json().await.expect("json"))
    }

    /// Opens a dashboard session with `key`, expecting 200; its cookie as
    /// `name=value`, for a `Cookie` header.
    pub async fn open_session(&self, key: &str) -> String {
        let opened = self
            .client
            .post(format!("{}/dashboard/session", self.base))
            .json(&serde_json::json!({ "key": key }))
            .send()
            .await
            .expect("login");
        assert_eq!(opened.status(), 200, "login with {key}");
        cookie_of(&opened)
    }

    /// GET with the key; status and JSON body.
    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let response = self.get_raw(path_and_query).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    /// GET expecting 200; the body.
    pub async fn ok(&self, path_and_query: &str) -> Value {
        let (status, body) = self.get(path_and_query).await;
        assert_eq!(status, 200, "{path_and_query}: {body}");
        body
    }

    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

/// The `name=value` of a `Set-Cookie` answer, for a `Cookie` header.
pub fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .expect("ascii");
    set.split(';').next().expect("name=value").to_owned()
}

/// A report's series `field` (`daily`, `hourly`) as (`label`, clicks) pairs.
pub fn series(body: &Value, field: &str, label: &str) -> Vec<(String, u64)> {
    body[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {body}"))
        .iter()
        .map(|point| {
            (
                point[label].as_str().expect("label").to_owned(),
                point["clicks_count"].as_u64().expect("count"),
            )
        })
        .collect()
}

/// Adds `clicks` clicks at UTC `hour` (`YYYY-MM-DD HH:00:00`) to the hourly,
/// daily and per-dimension daily aggregates and bumps the date's version, in
/// one transaction, as the worker's fold does.
pub async fn add_clicks(db: &TestDb, hour: &str, offer_id: u64, source: &str, clicks: u64) {
    let hour = chrono::NaiveDateTime::parse_from_str(hour, "%Y-%m-%d %H:%M:%S").expect("an hour");
    let clicks = i64::try_from(clicks).expect("a count");
    storage::aggregates::add_counts(&db.conn, [(hour, offer_id, source.to_owned(), clicks)])
        .await
        .expect("add clicks");
}

/// Adds daily rows `(date, offer_id, source, clicks)` at noon UTC.
pub async fn add_daily(db: &TestDb, rows: &[(&str, u64, &str, u64)]) {
    for (date, offer_id, source, clicks) in rows {
        add_clicks(db, &format!("{date} 12:00:00"), *offer_id, source, *clicks).await;
    }
}
