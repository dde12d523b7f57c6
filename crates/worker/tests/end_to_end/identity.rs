//! Exact identity: ids and sources that differ in any character are different clicks.

use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support::Ingest;

use super::{start_workers, tear_down};

/// Ids and sources that differ in any character — a trailing space, letter
/// case, Unicode normalisation — are different clicks and different rows of
/// every aggregate; an id of only whitespace is refused.
#[tokio::test]
async fn ids_and_sources_that_differ_in_any_character_are_different() {
    let stream = TestStream::create();
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let ingest = Ingest::start(&stream.redis_url, &stream.key, &[]).await;
    let (workers, _) = start_workers(&db, &stream, &["exact"], &shutdown).await;

    // NFC "café" and NFD "cafe\u{301}" look alike and are two ids and two sources.
    let pairs = [
        ("pad_id", "net"),
        ("pad_id ", "net "),
        ("pad_id  ", "Net"),
        ("PAD_ID", "net"),
        ("caf\u{e9}", "caf\u{e9}"),
        ("cafe\u{301}", "cafe\u{301}"),
    ];
    let click = |id: &str, source: &str| {
        json!({
            "click_id": id,
            "offer_id": 7,
            "source": source,
            "timestamp": "2025-06-10T10:00:00Z",
            "signature": "sig",
        })
    };
    let post = |path: &'static str, body: Value| {
        let ingest = &ingest;
        async move {
            let response = ingest
                .post_signed(path, serde_json::to_vec(&body).expect("json"))
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json body"))
        }
    };
    // Each twice: the copies are duplicates, the near-lookalikes are not.
    for _ in 0..2 {
        for (id, source) in pairs {
            let (status, body) = post("/api/webhook/clicks", click(id, source)).await;
            assert_eq!(status, 202, "{id:?}: {body}");
            assert_eq!(body["click_id"], id, "the id is answered as sent");
        }
    }
    for blank in [" ", "   ", "\u{a0}"] {
        let (status, body) = post("/api/webhook/clicks", click(blank, "net")).await;
        assert_eq!(status, 400, "{blank:?}: {body}");
        assert_eq!(
            body["details"]["click_id"][0], "The click_id field must not be only whitespace.",
            "{body}"
        );
    }
    let (status, body) = post(
        "/api/webhook/clicks/batch",
        json!({"clicks": [click("  ", "net"), click("batch-ok", "net")]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(1), Some(1)),
        "{body}"
    );
    assert_eq!(body["errors"][0]["index"], 0, "{body}");

    let expected = pairs.len() as u64 + 1;
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));
    for (id, _) in pairs {
        let rows = storage::inspect::clicks_with_id(&db.conn, id)
            .await
            .expect("count the rows of an id");
        assert_eq!(rows, 1, "{id:?} is one row");
    }
    // "net" has pad_id, PAD_ID and batch-ok; "net " and "Net" one each.
    for (source, count) in [
        ("net", 3),
        ("net ", 1),
        ("Net", 1),
        ("caf\u{e9}", 1),
        ("cafe\u{301}", 1),
    ] {
        let totals = storage::inspect::source_totals(&db.conn, source)
            .await
            .expect("sum the aggregates of a source");
        for (table, total) in [
            ("click_daily_stats", totals.daily),
            ("click_hourly_stats", totals.hourly),
            ("click_daily_source_stats", totals.daily_source),
        ] {
            assert_eq!(total, count, "{table}, source {source:?}");
        }
    }

    tear_down(shutdown, ingest, workers, db, stream).await;
}
