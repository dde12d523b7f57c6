//! Health of the reporting API against real MariaDB and Redis.

use crate::reports_support as support;

use clap::Parser;
use reporting_api::Settings;
use serde_json::Value;
use support::Api;
use testkit::{TestDb, TestStream};

/// A reporting API on `db` and `redis_url` (Finance unreachable): its base URL
/// and how to stop it.
async fn spawn(db: &TestDb, redis_url: &str) -> (String, Api) {
    let api =
        Api::start_with_redis(db, redis_url, &["--finance-service-url=http://127.0.0.1:1"]).await;
    (api.base.clone(), api)
}

#[tokio::test]
async fn health_reports_each_dependency() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let (base, api) = spawn(&db, &stream.redis_url).await;
    let response = reqwest::get(format!("{base}/api/health"))
        .await
        .expect("health");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "reporting-api");
    assert_eq!(body["checks"]["mysql"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    assert_eq!(
        body["information"]["finance"]["reachable"], false,
        "Finance is information only: down, yet healthy"
    );
    for probe in ["/livez", "/readyz"] {
        let response = reqwest::get(format!("{base}{probe}")).await.expect("probe");
        assert_eq!(response.status().as_u16(), 200, "{probe}");
    }
    api.stop();

    // Redis unreachable: 503 naming it.
    let (base, api) = spawn(&db, "redis://127.0.0.1:1").await;
    let response = reqwest::get(format!("{base}/api/health"))
        .await
        .expect("health");
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["mysql"]["status"], "up");
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn reports_and_export_need_a_bearer_key() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let (base, api) = spawn(&db, &stream.redis_url).await;
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/api/reports/summary"),
        ("GET", "/api/export/status"),
        ("POST", "/api/export/forward"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic test-key"),
            Some("test-key"),
        ] {
            let mut request =
                client.request(method.parse().expect("method"), format!("{base}{path}"));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status().as_u16(), 401, "{method} {path} {auth:?}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body, serde_json::json!({"error": "Unauthorized"}));
        }
    }
    api.stop();
    db.drop().await;
}

#[test]
fn serving_without_keys_is_refused_unless_insecure() {
    let settings = Settings::try_parse_from(["reporting-api"]).expect("settings");
    let reason = settings.api_keys().expect_err("no keys");
    assert!(reason.contains("REPORTING_API_KEYS"));
    let settings =
        Settings::try_parse_from(["reporting-api", "--insecure-no-auth"]).expect("settings");
    assert!(settings.api_keys().is_ok());
}
