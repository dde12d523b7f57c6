//! Bad input: invalid fields and batches, oversized bodies, wrong types, clicks too old.

use serde_json::json;

use super::{KEY, spawn, spawn_with, valid_click};

#[tokio::test]
async fn invalid_clicks_are_400_with_details_per_field() {
    let app = spawn().await;
    let mut click = valid_click("c-3");
    click["offer_id"] = json!(-1);
    click["timestamp"] = json!("yesterday");
    let (status, body) = app.post_signed("/api/webhook/clicks", &click).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid payload structure");
    assert_eq!(
        body["details"]["offer_id"][0],
        "The offer_id field must be at least 1."
    );
    assert!(
        body["details"]["timestamp"][0]
            .as_str()
            .expect("reason")
            .contains("RFC 3339")
    );
    let (status, body, _) = app
        .post_bytes_signed_by(KEY, "/api/webhook/clicks", b"{not json".to_vec())
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid payload structure");
    assert!(
        body["details"]["body"][0]
            .as_str()
            .expect("reason")
            .contains("valid JSON")
    );
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_and_wrong_content_types_415() {
    let app = spawn_with(&["--max-body-bytes=1024"], None).await;
    let mut click = valid_click("big");
    click["padding"] = json!("x".repeat(2000));
    let (status, body, _) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&click).expect("json"),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "Payload too large");
    let small = serde_json::to_vec(&valid_click("form")).expect("json");
    let signature = domain::sign(KEY.as_bytes(), &small);
    let (status, body, _) = app
        .post_raw(
            "/api/webhook/clicks",
            small,
            Some(signature),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(status, 415);
    assert_eq!(body["error"], "Unsupported media type");
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn unusable_batches_are_400() {
    let app = spawn().await;
    let cases = [
        json!({}),
        json!({"clicks": "nope"}),
        json!({"clicks": []}),
        json!({"clicks": vec![valid_click("x"); 1001]}),
    ];
    for batch in cases {
        let (status, body) = app.post_signed("/api/webhook/clicks/batch", &batch).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "Invalid batch payload structure");
        assert!(body["details"]["clicks"].is_array(), "{body}");
    }
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn clicks_older_than_the_retention_are_refused() {
    let app = spawn_with(&["--clicks-retention-days=30"], None).await;
    let mut recent = valid_click("recent");
    recent["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    let (status, body) = app.post_signed("/api/webhook/clicks", &recent).await;
    assert_eq!(status, 202, "{body}");
    // valid_click is dated 2025-06-11: long before the 30 days kept.
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("old"))
        .await;
    assert_eq!(status, 400, "{body}");
    let reason = body["details"]["timestamp"][0].as_str().expect("reason");
    assert!(reason.contains("keeps 30 days of clicks"), "{reason}");
    let mut also_recent = valid_click("recent-2");
    also_recent["timestamp"] = recent["timestamp"].clone();
    let (status, body) = app
        .post_signed(
            "/api/webhook/clicks/batch",
            &json!({"clicks": [valid_click("old-2"), also_recent]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(body["errors"][0]["index"], 0);
    assert!(
        body["errors"][0]["details"]["timestamp"].is_array(),
        "{body}"
    );
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(ids, ["recent", "recent-2"]);
    app.stop().await;
}
