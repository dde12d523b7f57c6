//! The reporting API while MariaDB or Redis goes away and comes back: health
//! turns 503 naming the dependency, liveness stays 200; readiness follows
//! MariaDB only (Redis is a cache: reports work without it). Private
//! servers, so the shared ones are never touched.

use std::time::Duration;

use clap::Parser;
use reporting_api::{Application, Settings};
use testkit::http::{get_json, wait_for_all_up, wait_for_dependency_down, wait_for_status};
use testkit::{MariaDbInstance, RedisInstance};
use tokio_util::sync::CancellationToken;

/// Health notices a change within a check or two (each at most 2 s).
const NOTICE: Duration = Duration::from_secs(20);

async fn health_names(base: &str, failed: &str, other: &str) {
    wait_for_dependency_down(base, "reporting-api", failed, other, NOTICE).await;
}

async fn all_up(base: &str) {
    wait_for_all_up(base, &["mysql", "redis"], NOTICE).await;
}

async fn summary_status(base: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{base}/api/reports/summary?start_date=2025-06-01&end_date=2025-06-30"
        ))
        .bearer_auth("test-key")
        .send()
        .await
        .expect("summary")
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_follows_mariadb_and_redis_going_down_and_coming_back() {
    let mut redis = RedisInstance::start().await;
    let mut mariadb = MariaDbInstance::start().await;
    let db = mariadb.create_db().await;
    let settings = Settings::try_parse_from([
        "reporting-api".to_owned(),
        format!("--database-url={}", db.url),
        format!("--redis-url={}", redis.url()),
        "--reporting-bind=127.0.0.1:0".to_owned(),
        "--reporting-api-keys=test-key".to_owned(),
        "--finance-service-url=http://127.0.0.1:1".to_owned(),
    ])
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let running = tokio::spawn(app.run_until_stopped());
    all_up(&base).await;

    mariadb.stop().await;
    health_names(&base, "mysql", "redis").await;
    let ready = wait_for_status(&format!("{base}/readyz"), 503, NOTICE).await;
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(ready["mysql"]["status"], "down", "{ready}");
    mariadb.restart().await;
    all_up(&base).await;

    redis.stop().await;
    health_names(&base, "redis", "mysql").await;
    let (status, ready) = get_json(&format!("{base}/readyz")).await.expect("readyz");
    assert_eq!(
        (status, &ready["ready"]),
        (200, &serde_json::json!(true)),
        "reports need only MariaDB: {ready}"
    );
    assert_eq!(
        summary_status(&base).await,
        200,
        "reports work without their cache"
    );
    redis.restart().await;
    all_up(&base).await;
    assert_eq!(summary_status(&base).await, 200);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("stops")
        .expect("joins")
        .expect("clean exit");
}

/// `--help` lists every Finance variable, `FINANCE_SIGNING_SECRET` included,
/// and never a value: the URL may carry credentials, the others are secrets.
#[test]
fn help_lists_the_finance_settings_and_never_their_values() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reporting-api"))
        .arg("--help")
        .env("FINANCE_SERVICE_URL", "https://app:hunter2@finance.example")
        .env("FINANCE_SERVICE_TOKEN", "token-hunter3")
        .env("FINANCE_SIGNING_SECRET", "signing-hunter4")
        .output()
        .expect("reporting-api --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    for listed in [
        "FINANCE_SERVICE_URL",
        "FINANCE_SERVICE_TOKEN",
        "FINANCE_SIGNING_SECRET",
    ] {
        assert!(help.contains(listed), "{listed} in {help}");
    }
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!help.contains(secret), "{secret} in {help}");
    }
}

/// A Finance URL that cannot work stops reporting-api at start, with one
/// line naming the variable and not the value, instead of answering 503 later.
#[test]
fn an_unusable_finance_url_stops_reporting_api_at_start() {
    for url in ["not a url", "ftp://app:hunter2@finance.example"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_reporting-api"))
            .env("FINANCE_SERVICE_URL", url)
            .env("REPORTING_API_KEYS", "k")
            .output()
            .expect("reporting-api");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("FINANCE_SERVICE_URL"), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

/// The first scrape, before any report or export, lists the export's
/// metrics with their help text at 0, one series per run outcome.
#[tokio::test]
async fn the_first_scrape_lists_every_metric_at_zero() {
    let db = testkit::TestDb::create().await;
    let stream = testkit::TestStream::create();
    let text = testkit::http::first_scrape(
        env!("CARGO_BIN_EXE_reporting-api"),
        &[
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", stream.redis_url.clone()),
            ("REPORTING_API_KEYS", "k".to_owned()),
        ],
        "REPORTING_BIND",
    )
    .await;
    testkit::http::assert_registered(
        &text,
        &[
            "export_runs_total",
            "export_chunks_total",
            "export_clicks_total",
            "export_retries_total",
            "report_cache_total",
            "http_requests_total",
        ],
        &[
            "export_runs_total{outcome=\"completed\"}",
            "export_runs_total{outcome=\"failed\"}",
            "export_chunks_total",
            "export_clicks_total",
            "export_retries_total",
            "report_cache_total{result=\"hit\"}",
        ],
    );
    db.drop().await;
    stream.drop().await;
}
