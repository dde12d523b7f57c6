//! The worker while Redis or MariaDB goes away and comes back: health turns
//! 503 naming the dependency, readiness false, liveness still 200; all of it
//! recovers once the server is back, and clicks keep flowing. Private
//! servers, so the shared ones are never touched.

use std::time::Duration;

use clap::Parser;
use testkit::http::{wait_for_all_up, wait_for_dependency_down, wait_for_status};
use testkit::{MariaDbInstance, RedisInstance, TestDb, TestStream, click, xadd_clicks};
use tokio_util::sync::CancellationToken;

/// Health notices a change within a check or two (each at most 2 s).
const NOTICE: Duration = Duration::from_secs(20);

/// Waits until the dependency named `failed` is down in `/api/health`, with the other one up.
async fn assert_down(base: &str, failed: &str, other: &str) {
    wait_for_dependency_down(base, "worker", failed, other, NOTICE).await;
    let ready = wait_for_status(&format!("{base}/readyz"), 503, NOTICE).await;
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(ready[failed]["status"], "down", "{ready}");
}

async fn assert_recovered(base: &str) {
    wait_for_all_up(base, &["redis", "mysql"], NOTICE).await;
}

/// Adds clicks `first..first+count` and waits until the worker has stored them all.
async fn flow(stream: &TestStream, db: &TestDb, first: u64, count: u64) {
    let clicks: Vec<domain::Click> = (first..first + count).map(|n| click("down", n)).collect();
    xadd_clicks(&mut stream.conn().await, &stream.layout(1), &clicks).await;
    let expected = first + count;
    let deadline = std::time::Instant::now() + NOTICE;
    loop {
        let stored = db.click_count().await;
        if stored == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stored} of {expected} clicks stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_follows_redis_and_mariadb_going_down_and_coming_back() {
    let mut redis = RedisInstance::start().await;
    let mut mariadb = MariaDbInstance::start().await;
    let db = mariadb.create_db().await;
    let stream = TestStream::create_on(&redis.url());
    let settings = worker::Settings::try_parse_from(stream.worker_args(
        &db.url,
        [
            "--consumer-name=down".to_owned(),
            "--concurrency=1".to_owned(),
            "--block-ms=100".to_owned(),
        ],
    ))
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = worker::Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let running = tokio::spawn(app.run_until_stopped());

    assert_recovered(&base).await;
    flow(&stream, &db, 0, 10).await;

    redis.stop().await;
    assert_down(&base, "redis", "mysql").await;
    redis.restart().await;
    assert_recovered(&base).await;
    flow(&stream, &db, 10, 10).await;

    mariadb.stop().await;
    assert_down(&base, "mysql", "redis").await;
    mariadb.restart().await;
    assert_recovered(&base).await;
    flow(&stream, &db, 20, 10).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("stops")
        .expect("joins")
        .expect("clean exit");
}
