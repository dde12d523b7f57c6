//! What a sender may do: post its own sources, with its own keys, at its own rate.

use serde_json::json;

use super::{TWO_SENDERS, click, keys_file, start, value_of};

#[tokio::test]
async fn a_sender_posts_only_its_own_sources() {
    let app = start(&keys_file(TWO_SENDERS), &[]).await;

    assert_eq!(app.click("key-a1", "a-1", "network_a").await, 202);
    assert_eq!(app.click("key-a1", "a-2", "network_a_eu").await, 202);
    assert_eq!(app.click("key-b", "b-1", "network_b").await, 202);
    let (status, body) = app
        .post(
            "/api/webhook/clicks",
            "key-a1",
            None,
            &click("a-3", "network_b"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        json!({"error": "Forbidden", "details": {"source": ["The sender net-a may not post clicks of this source."]}})
    );
    // Exact bytes: a trailing space or another case is another source.
    assert_eq!(app.click("key-a1", "a-4", "network_a ").await, 403);
    assert_eq!(app.click("key-a1", "a-5", "Network_A").await, 403);
    // A disabled sender's key, or no sender's key, proves nothing.
    assert_eq!(app.click("key-retired", "r-1", "network_a").await, 401);
    assert_eq!(app.click("key-nobody", "n-1", "network_a").await, 401);

    // Naming the sender: only its keys are tried.
    let named = |key, sender, id| {
        let app = &app;
        async move {
            app.post(
                "/api/webhook/clicks",
                key,
                Some(sender),
                &click(id, "network_a"),
            )
            .await
            .0
        }
    };
    assert_eq!(named("key-a1", "net-a", "a-6").await, 202);
    assert_eq!(named("key-a1", "net-b", "a-7").await, 401);
    assert_eq!(named("key-a1", "nobody", "a-8").await, 401);

    // A batch: the forbidden and the invalid items are reported, the rest go in.
    let (status, body) = app
        .post(
            "/api/webhook/clicks/batch",
            "key-a1",
            None,
            &json!({"clicks": [
                click("batch-1", "network_a"),
                click("batch-2", "network_b"),
                click("batch-3", "network_a_us"),
                {"click_id": "batch-4", "offer_id": 7, "source": "network_a", "signature": "s"},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["click_id"], "batch-2");
    assert!(body["errors"][0]["details"]["source"].is_array(), "{body}");
    assert_eq!(body["errors"][1]["index"], 3);
    assert!(
        body["errors"][1]["details"]["timestamp"].is_array(),
        "{body}"
    );

    // Standard Webhooks: two senders' message ids never collide.
    assert_eq!(
        app.timestamped("key-b", "msg-1", &click("ts-b", "network_b"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-a1", "msg-1", &click("ts-a", "network_a"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-b", "msg-1", &click("ts-b", "network_b"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-a1", "msg-2", &click("ts-x", "network_b"))
            .await,
        403
    );

    assert_eq!(
        app.stored_ids().await,
        [
            "a-1", "a-2", "b-1", "a-6", "batch-1", "batch-3", "ts-b", "ts-a"
        ]
    );
    let metrics = app.metrics().await;
    assert_eq!(
        value_of(
            &metrics,
            r#"sender_clicks_total{sender="net-a",result="forbidden"}"#
        ),
        5.0,
        "{metrics}"
    );
    assert_eq!(
        value_of(
            &metrics,
            r#"sender_clicks_total{sender="net-b",result="accepted"}"#
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &metrics,
            r#"clicks_rejected_total{reason="source_not_allowed"}"#
        ),
        5.0
    );
    assert!(!metrics.contains("key-a1"), "a key in the metrics");
    app.stop().await;
}

#[tokio::test]
async fn each_sender_has_its_own_rate() {
    let file = TWO_SENDERS.replace(
        r#"keys = ["key-a1"]"#,
        "keys = [\"key-a1\"]\nrate_limit = 1\nrate_burst = 2",
    );
    let app = start(&keys_file(&file), &[]).await;
    assert_eq!(app.click("key-a1", "r-1", "network_a").await, 202);
    assert_eq!(app.click("key-a1", "r-2", "network_a").await, 202);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json")
        .header(
            "x-signature",
            domain::sign(b"key-a1", br#"{"click_id":"r-3"}"#),
        )
        .body(r#"{"click_id":"r-3"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    for n in 0..10 {
        assert_eq!(
            app.click("key-b", &format!("b-{n}"), "network_b").await,
            202
        );
    }
    app.stop().await;
}
