//! Good clicks, alone, in batches or many at once: answered with the old bytes, enqueued.

use serde_json::{Value, json};

use super::{KEY, spawn, spawn_with, valid_click};

#[tokio::test]
async fn a_signed_click_is_accepted_and_enqueued() {
    let app = spawn().await;
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("c-1"))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"status":"success","message":"Click received and queued for processing","click_id":"c-1"})
    );
    let entries = app.entries().await;
    assert_eq!(entries.len(), 1);
    let click = &entries[0].click;
    assert_eq!(click.click_id, "c-1");
    assert_eq!(click.offer_id.get(), 12345);
    assert_eq!(click.source, "network_1");
    assert_eq!(click.timestamp_rfc3339(), "2025-06-11T14:00:00.000000Z");
    assert_eq!(click.signature, "sender-sig");
    app.stop().await;
}

#[tokio::test]
async fn the_exact_response_bytes_match_the_old_service() {
    let app = spawn().await;
    let body = serde_json::to_vec(&valid_click("bytes")).expect("json");
    let signature = domain::sign(KEY.as_bytes(), &body);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "x-signature",
            signature.to_uppercase().replace("SHA256=", "sha256="),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        response.text().await.expect("text"),
        r#"{"status":"success","message":"Click received and queued for processing","click_id":"bytes"}"#
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_enqueues_the_valid_clicks_and_reports_the_rest() {
    let app = spawn().await;
    let mut bad = valid_click("bad-1");
    bad["source"] = json!("");
    let batch =
        json!({"clicks": [valid_click("b-1"), bad, 42, valid_click("b-2"), valid_click("b-1")]});
    let (status, body) = app.post_signed("/api/webhook/clicks/batch", &batch).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "success");
    assert_eq!(body["processed"], 3);
    assert_eq!(body["failed"], 2);
    assert_eq!(body["total"], 5);
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["click_id"], "bad-1");
    assert_eq!(
        body["errors"][0]["details"]["source"][0],
        "The source field is required."
    );
    assert_eq!(body["errors"][1]["index"], 2);
    assert_eq!(body["errors"][1]["click_id"], Value::Null);
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(
        ids,
        ["b-1", "b-2", "b-1"],
        "duplicates are left to the worker's dedupe"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_is_one_packed_entry_compressed_as_clicks_pack_compression_says() {
    let clicks = domain::stream_entry::COMPRESS_MIN_CLICKS;
    for (flags, field) in [
        (&[][..], domain::stream_entry::FIELD_CLICKS_LZ4),
        (
            &["--pack-compression=none"][..],
            domain::stream_entry::FIELD_CLICKS,
        ),
    ] {
        let app = spawn_with(flags, None).await;
        let batch: Vec<Value> = (0..clicks)
            .map(|n| valid_click(&format!("z-{n}")))
            .collect();
        let (status, body) = app
            .post_signed("/api/webhook/clicks/batch", &json!({ "clicks": batch }))
            .await;
        assert_eq!(
            (status, &body["processed"]),
            (202, &json!(clicks)),
            "{body}"
        );
        let mut conn = app.stream.conn().await;
        let entries = clickstream::inspect::entries(&mut conn, &app.stream.key)
            .await
            .expect("xrange");
        let fields: Vec<Vec<String>> = entries
            .iter()
            .map(|entry| {
                let names = entry.fields.iter().map(|(name, _)| name.as_slice());
                names
                    .map(|name| String::from_utf8_lossy(name).into_owned())
                    .collect()
            })
            .collect();
        assert_eq!(fields, [[field, "click_count"]], "{flags:?}");
        assert_eq!(app.entries().await.len(), clicks, "{flags:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn concurrent_requests_are_each_answered_after_their_own_entries() {
    let app = spawn().await;
    let requests = (0..300).map(|n| {
        let app = &app;
        async move {
            app.post_signed("/api/webhook/clicks", &valid_click(&format!("p-{n}")))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 202));
    let mut ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..300).map(|n| format!("p-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
    app.stop().await;
}
