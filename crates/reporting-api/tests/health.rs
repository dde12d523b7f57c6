//! Health of the reporting API against real MariaDB and Redis.

use clap::Parser;
use reporting_api::{Application, Settings};
use serde_json::Value;
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

async fn spawn(db: &TestDb, redis_url: &str) -> (String, CancellationToken) {
    let settings = Settings::try_parse_from([
        "reporting-api".to_owned(),
        format!("--database-url={}", db.url),
        format!("--redis-url={redis_url}"),
        "--reporting-bind=127.0.0.1:0".to_owned(),
    ])
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (base, shutdown)
}

#[tokio::test]
async fn health_reports_each_dependency() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let (base, shutdown) = spawn(&db, &stream.redis_url).await;
    let response = reqwest::get(format!("{base}/api/health"))
        .await
        .expect("health");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "reporting-api");
    assert_eq!(body["checks"]["mysql"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    shutdown.cancel();

    // Redis unreachable: 503 naming it.
    let (base, shutdown) = spawn(&db, "redis://127.0.0.1:1").await;
    let response = reqwest::get(format!("{base}/api/health"))
        .await
        .expect("health");
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["mysql"]["status"], "up");
    shutdown.cancel();
    db.drop().await;
}
