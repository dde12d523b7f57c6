//! Ingest while its Redis goes away and comes back: health turns 503 naming
//! Redis, readiness false, liveness still 200, webhooks 503 — and all of it
//! recovers once Redis is back. A private Redis, so the shared one is never touched.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Ingest;
use testkit::RedisInstance;
use testkit::http::{get_json, wait_for_status};

/// Health notices a change within a few checks; generous for a loaded machine.
const NOTICE: Duration = Duration::from_secs(15);

async fn post_click(ingest: &Ingest, id: &str) -> u16 {
    let body = serde_json::to_vec(&json!({
        "click_id": id,
        "offer_id": 7,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    }))
    .expect("json");
    ingest
        .post_signed("/api/webhook/clicks", body)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_follows_redis_going_down_and_coming_back() {
    let mut redis = RedisInstance::start().await;
    let ingest = Ingest::start(&redis.url(), "clicks-down", &[]).await;
    let base = ingest.base.clone();
    let health = format!("{base}/api/health");

    wait_for_status(&health, 200, NOTICE).await;
    assert_eq!(post_click(&ingest, "before").await, 202);

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
        assert_eq!(post_click(&ingest, &format!("lost-{round}")).await, 503);

        redis.restart().await;
        let body = wait_for_status(&health, 200, NOTICE).await;
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
        wait_for_status(&format!("{base}/readyz"), 200, NOTICE).await;
        assert_eq!(post_click(&ingest, &format!("after-{round}")).await, 202);
    }

    ingest.stop().await;
}
