//! Observability: request ids echoed or generated, and the Prometheus metrics.

use testkit::metrics::{metric, scrape};

use super::{spawn, valid_click};

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn().await;
    let response = app
        .post_signed_with(
            "/api/webhook/clicks",
            &valid_click("rid"),
            &[("x-request-id", "sender-42")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("sender-42")
    );
    let response = app.get("/api/health").await.expect("health");
    let generated = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a generated id");
    assert_eq!(generated.len(), 32);
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_exposed_and_move() {
    let app = spawn().await;
    let url = format!("{}/metrics", app.base);
    let before = scrape(&url).await;
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("m-1"))
        .await;
    assert_eq!(status, 202);
    let (status, _, _) = app
        .post_raw(
            "/api/webhook/clicks",
            b"{}".to_vec(),
            None,
            "application/json",
        )
        .await;
    assert_eq!(status, 401);
    let after = scrape(&url).await;
    assert!(
        metric(&after, "clicks_accepted_total", &[])
            >= metric(&before, "clicks_accepted_total", &[]) + 1.0
    );
    assert!(
        metric(&after, "clicks_rejected_total", &[])
            >= metric(&before, "clicks_rejected_total", &[]) + 1.0
    );
    assert!(after.contains("reason=\"signature\""), "{after}");
    assert!(after.contains("http_requests_total{"), "{after}");
    assert!(after.contains("route=\"/api/webhook/clicks\""));
    assert!(after.contains("http_request_duration_seconds"));
    assert!(after.contains("enqueue_duration_seconds"));
    app.stop().await;
}
