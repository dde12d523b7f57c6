//! Signatures: X-Signature, key rotation, Standard Webhooks timestamps and replays.

use serde_json::{Value, json};

use super::{KEY, TestApp, spawn, spawn_with, valid_click};

#[tokio::test]
async fn bad_signatures_are_401_and_nothing_is_enqueued() {
    let app = spawn().await;
    let body = serde_json::to_vec(&valid_click("c-2")).expect("json");
    let wrong = domain::sign(b"another-key", &body);
    let good = domain::sign(KEY.as_bytes(), &body);
    let cases = [
        None,
        Some(wrong),
        Some("sha256=xyz".to_owned()),
        Some(good.replace("sha256=", "md5=")),
    ];
    for signature in cases {
        let (status, response, _) = app
            .post_raw(
                "/api/webhook/clicks",
                body.clone(),
                signature.clone(),
                "application/json",
            )
            .await;
        assert_eq!(status, 401, "{signature:?}");
        assert_eq!(response, json!({"error": "Invalid signature"}));
    }
    // A body that is not even JSON still gets 401 first: the signature is checked before parsing.
    let (status, _, _) = app
        .post_raw(
            "/api/webhook/clicks",
            b"not json".to_vec(),
            Some("sha256=00".to_owned()),
            "application/json",
        )
        .await;
    assert_eq!(status, 401);
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn every_key_of_a_rotation_is_accepted() {
    let stream_app = spawn_with(&["--webhook-secret-key=old-key,new-key"], None).await;
    for key in ["old-key", "new-key"] {
        let (status, _, _) = stream_app
            .post_bytes_signed_by(
                key,
                "/api/webhook/clicks",
                serde_json::to_vec(&valid_click(key)).expect("json"),
            )
            .await;
        assert_eq!(status, 202, "{key}");
    }
    let (status, _, _) = stream_app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("x")).expect("json"),
        )
        .await;
    assert_eq!(
        status, 401,
        "the key given first on the command line was replaced"
    );
    assert_eq!(stream_app.entries().await.len(), 2);
    stream_app.stop().await;
}

/// Posts `body` with the Standard Webhooks headers signed by `key`.
async fn post_timestamped(
    app: &TestApp,
    key: &str,
    id: &str,
    timestamp: i64,
    body: &Value,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).expect("json");
    let signature = domain::standard_webhooks::sign(key.as_bytes(), id, timestamp, &bytes);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(bytes)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn timestamped_signatures_refuse_stale_future_and_replayed_requests() {
    let app = spawn_with(
        &[
            "--webhook-secret-key=old-key,new-key",
            "--webhook-timestamp-tolerance-secs=60",
        ],
        None,
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    // Valid, with either key of the rotation.
    let (status, body) =
        post_timestamped(&app, "new-key", "msg-1", now, &valid_click("ts-1")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["click_id"], "ts-1");
    let (status, _) = post_timestamped(&app, "old-key", "msg-2", now, &valid_click("ts-2")).await;
    assert_eq!(status, 202);
    // The same message again: acknowledged, not enqueued again.
    let (status, body) =
        post_timestamped(&app, "new-key", "msg-1", now, &valid_click("ts-1")).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "success");
    // Stale, from the future, or signed with another key: 401.
    for (timestamp, key) in [
        (now - 120, "new-key"),
        (now + 120, "new-key"),
        (now, "stranger"),
    ] {
        let (status, body) =
            post_timestamped(&app, key, "msg-3", timestamp, &valid_click("ts-3")).await;
        assert_eq!(status, 401, "{timestamp} {key}");
        assert_eq!(body, json!({"error": "Invalid signature"}));
    }
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(
        ids,
        ["ts-1", "ts-2"],
        "the replay and the refused requests enqueued nothing"
    );
    // X-Signature alone is still accepted while timestamps are optional.
    let (status, _, _) = app
        .post_bytes_signed_by(
            "new-key",
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("plain")).expect("json"),
        )
        .await;
    assert_eq!(status, 202);
    app.stop().await;
}

#[tokio::test]
async fn timestamps_can_be_made_mandatory() {
    let app = spawn_with(&["--webhook-require-timestamp=true"], None).await;
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("plain"))
        .await;
    assert_eq!(status, 401, "X-Signature alone is refused");
    assert_eq!(body, json!({"error": "Invalid signature"}));
    let now = chrono::Utc::now().timestamp();
    let (status, _) = post_timestamped(&app, KEY, "msg-x", now, &valid_click("stamped")).await;
    assert_eq!(status, 202);
    assert_eq!(app.entries().await.len(), 1);
    app.stop().await;
}
