//! Ingest while its Redis goes away and comes back: health turns 503 naming
//! Redis, readiness false, liveness still 200, webhooks 503 — and all of it
//! recovers once Redis is back. A private Redis, so the shared one is never touched.

use std::time::Duration;

use clap::Parser;
use ingest::{Application, Settings};
use serde_json::json;
use testkit::RedisInstance;
use testkit::http::{get_json, wait_for_status};
use tokio_util::sync::CancellationToken;

const KEY: &str = "down-secret";
/// Health notices a change within a few checks; generous for a loaded machine.
const NOTICE: Duration = Duration::from_secs(15);

async fn post_click(base: &str, id: &str) -> u16 {
    let body = serde_json::to_vec(&json!({
        "click_id": id,
        "offer_id": 7,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    }))
    .expect("json");
    reqwest::Client::new()
        .post(format!("{base}/api/webhook/clicks"))
        .header("content-type", "application/json")
        .header("x-signature", domain::sign(KEY.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_follows_redis_going_down_and_coming_back() {
    let mut redis = RedisInstance::start().await;
    let settings = Settings::try_parse_from([
        "ingest".to_owned(),
        format!("--webhook-secret-key={KEY}"),
        format!("--redis-url={}", redis.url()),
        "--clicks-queue-name=clicks-down".to_owned(),
        "--ingest-bind=127.0.0.1:0".to_owned(),
        "--http-workers=1".to_owned(),
        "--redis-timeout-ms=500".to_owned(),
    ])
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let running = tokio::spawn(app.run_until_stopped());
    let health = format!("{base}/api/health");

    wait_for_status(&health, 200, NOTICE).await;
    assert_eq!(post_click(&base, "before").await, 202);

    // A graceful stop, then a crash: both must be noticed and recovered from.
    for (round, crash) in [(1, false), (2, true)] {
        if crash {
            redis.kill();
        } else {
            redis.stop().await;
        }
        // Readiness follows the backlog monitor, which polls in the background.
        let ready = wait_for_status(&format!("{base}/readyz"), 503, NOTICE).await;
        assert_eq!(ready["ready"], false, "{ready}");
        let body = wait_for_status(&health, 503, NOTICE).await;
        assert_eq!(body["status"], "unhealthy", "{body}");
        assert_eq!(body["service"], "ingest");
        assert_eq!(body["checks"]["redis"]["status"], "down", "{body}");
        assert!(body["checks"]["redis"]["error"].is_string(), "{body}");
        assert_eq!(body["checks"]["backlog"]["status"], "down", "{body}");
        let (status, _) = get_json(&format!("{base}/livez")).await.expect("livez");
        assert_eq!(status, 200, "liveness never depends on Redis");
        assert_eq!(post_click(&base, &format!("lost-{round}")).await, 503);

        redis.restart().await;
        let body = wait_for_status(&health, 200, NOTICE).await;
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
        wait_for_status(&format!("{base}/readyz"), 200, NOTICE).await;
        assert_eq!(post_click(&base, &format!("after-{round}")).await, 202);
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops")
        .expect("joins")
        .expect("clean exit");
}
