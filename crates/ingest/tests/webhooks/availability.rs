//! Health and availability: health routes, Redis down, a backlog over its limit, shutdown.

use std::time::Duration;

use super::{KEY, retry_after, spawn, spawn_with, valid_click};

#[tokio::test]
async fn without_redis_webhooks_are_503_and_health_is_unhealthy() {
    // Nothing listens on port 1.
    let app = spawn_with(&[], Some("redis://127.0.0.1:1")).await;
    let (status, body, headers) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("lost")).expect("json"),
        )
        .await;
    assert_eq!(status, 503);
    assert!(body["error"].is_string());
    assert_eq!(retry_after(&headers), Some("1"));
    let (status, health) = app.health().await;
    assert_eq!(status, 503);
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["checks"]["redis"]["status"], "down");
    app.stop().await;
}

#[tokio::test]
async fn health_unknown_paths_and_methods() {
    let app = spawn().await;
    let (status, health) = app.health().await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "ingest");
    assert!(health["timestamp"].is_string());
    let missing = app.get("/nope").await.expect("404");
    assert_eq!(missing.status().as_u16(), 404);
    let wrong = app.get("/api/webhook/clicks").await.expect("405");
    assert_eq!(wrong.status().as_u16(), 405);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_and_stops() {
    let app = spawn().await;
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("last"))
        .await;
    assert_eq!(status, 202);
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app.get("/api/health").await;
    assert!(refused.is_err(), "no longer accepting after shutdown");
    app.stream.drop().await;
}

#[tokio::test]
async fn a_backlog_over_the_limit_answers_503_until_it_drains() {
    let app = spawn_with(&["--stream-max-backlog=5"], None).await;
    let mut conn = app.stream.conn().await;
    let names = clickstream::StreamNames {
        stream: app.stream.key.clone(),
        group: clickstream::DEFAULT_GROUP.to_owned(),
        consumer: "test-consumer".to_owned(),
    };
    clickstream::consumer::ensure_group(&mut conn, &names)
        .await
        .expect("group");
    let get_status = |path: &'static str| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.get(url).send().await.expect("get").status().as_u16() }
    };
    // Let the monitor take its first measurement.
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 2).await;
    assert_eq!(get_status("/readyz").await, 200);
    for n in 0..5 {
        let (status, _) = app
            .post_signed("/api/webhook/clicks", &valid_click(&format!("b-{n}")))
            .await;
        assert_eq!(status, 202);
    }
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 3).await;
    assert_eq!(
        get_status("/readyz").await,
        503,
        "readiness turns false first"
    );
    assert_eq!(
        get_status("/livez").await,
        200,
        "liveness never depends on the backlog"
    );
    let (status, body, headers) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("over")).expect("json"),
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "Service temporarily unavailable");
    assert_eq!(retry_after(&headers), Some("1"));
    let (status, health) = app.health().await;
    assert_eq!(status, 503);
    assert_eq!(health["checks"]["backlog"]["entries"], 5);

    // A consumer takes and acknowledges everything: ingest recovers by itself.
    let entries = clickstream::consumer::read_group(&mut conn, &names, ">", 100, None)
        .await
        .expect("read");
    let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "the 503 enqueued nothing");
    clickstream::consumer::ack(&mut conn, &names, &ids)
        .await
        .expect("ack");
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 3).await;
    assert_eq!(get_status("/readyz").await, 200);
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("after"))
        .await;
    assert_eq!(status, 202);
    drop(conn);
    app.stop().await;
}
