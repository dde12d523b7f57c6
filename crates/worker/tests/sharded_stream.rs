//! `CLICKS_STREAM_SHARDS`: ingest spreads clicks over hash-tagged stream keys,
//! workers cover every shard, and each click is still stored and counted
//! exactly once; dead letters stay on their shard and replay from there.

use std::time::Duration;

use clap::Parser;
use redis::AsyncCommands;
use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

#[path = "../../ingest/tests/support/mod.rs"]
mod ingest_support;

use ingest_support::Ingest;

const SHARDS: u32 = 4;

fn click(n: u64) -> Value {
    json!({
        "click_id": format!("sharded-{n}"),
        "offer_id": 2000 + n % 7,
        "source": format!("net_{}", n % 3),
        "timestamp": format!("2025-07-{:02}T{:02}:15:00+00:00", 1 + n % 2, n % 24),
        "signature": "sig",
    })
}

fn worker_settings(db: &TestDb, stream: &TestStream, name: &str) -> worker::Settings {
    worker::Settings::try_parse_from([
        "worker".to_owned(),
        format!("--database-url={}", db.url),
        format!("--redis-url={}", stream.redis_url),
        format!("--clicks-queue-name={}", stream.key),
        format!("--clicks-stream-shards={SHARDS}"),
        "--worker-bind=127.0.0.1:0".to_owned(),
        format!("--consumer-name={name}"),
        "--concurrency=1".to_owned(),
        "--clicks-batch-size=40".to_owned(),
        "--block-ms=50".to_owned(),
    ])
    .expect("worker settings")
}

#[tokio::test]
async fn sharded_clicks_are_stored_once_by_workers_covering_every_shard() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let shutdown = CancellationToken::new();
    let keys = domain::shards::stream_keys(&stream.key, SHARDS);

    let shards_flag = format!("--clicks-stream-shards={SHARDS}");
    let ingest = Ingest::start(
        &stream.redis_url,
        &stream.key,
        &["--http-workers=2", &shards_flag],
    )
    .await;
    let post = |path: &'static str, body: Value| {
        let ingest = &ingest;
        async move {
            let bytes = serde_json::to_vec(&body).expect("json");
            ingest.post_signed(path, bytes).await.status().as_u16()
        }
    };
    // 200 singles, 50 of them twice, then a batch of 200 repeating 50.
    let singles = (0..200)
        .chain(0..50)
        .map(|n| post("/api/webhook/clicks", click(n)));
    let statuses = futures_util::future::join_all(singles).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let batch: Vec<Value> = (150..350).map(click).collect();
    assert_eq!(
        post("/api/webhook/clicks/batch", json!({"clicks": batch})).await,
        202
    );

    // Before any worker runs: every entry is on the shard its offer_id
    // hashes to, every shard got some, and the plain key holds nothing.
    let mut conn = stream.conn().await;
    let mut total = 0u64;
    for (shard, key) in keys.iter().enumerate() {
        let entries: redis::streams::StreamRangeReply = conn.xrange_all(key).await.expect("xrange");
        assert!(entries.ids.len() > 20, "{key}: {}", entries.ids.len());
        for entry in &entries.ids {
            let offer_id: String = entry.get("offer_id").expect("offer_id");
            assert_eq!(
                domain::shards::shard_of(&offer_id, SHARDS),
                shard,
                "{offer_id}"
            );
        }
        total += entries.ids.len() as u64;
    }
    assert_eq!(total, 200 + 50 + 200);
    let plain: u64 = conn.exists(&stream.key).await.expect("exists");
    assert_eq!(plain, 0);
    // An undecodable entry on shard 2 must end in shard 2's dead letters.
    let _: String = conn
        .xadd(&keys[2], "*", &[("click_id", "broken"), ("offer_id", "x")])
        .await
        .expect("xadd");

    let mut workers = Vec::new();
    for name in ["shard-a", "shard-b"] {
        let app = worker::Application::build(worker_settings(&db, &stream, name), shutdown.clone())
            .await
            .expect("worker");
        workers.push(tokio::spawn(app.run_until_stopped()));
    }

    let expected = 350;
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));
    // Nothing left pending on any shard; the poison entry sits on its own.
    for (shard, key) in keys.iter().enumerate() {
        let pending: redis::streams::StreamPendingReply = conn
            .xpending(key, worker::stream::DEFAULT_GROUP)
            .await
            .expect("xpending");
        assert_eq!(pending.count(), 0, "{key}");
        let dead: u64 = conn
            .xlen(format!("{key}{}", worker::stream::DEAD_LETTER_SUFFIX))
            .await
            .expect("xlen");
        assert_eq!(dead, u64::from(shard == 2), "{key}");
    }

    // Listing walks every shard, even after the count is used up on one.
    let settings = worker_settings(&db, &stream, "shard-cli");
    let listed = worker::cli::dead_letter_command(
        &settings,
        worker::DeadLetterCommand::List {
            count: 1,
            json: true,
        },
    )
    .await
    .expect("list");
    assert_eq!(listed, std::process::ExitCode::SUCCESS);

    // The operator's replay finds the letter on shard 2 and puts it back there.
    let code = worker::cli::dead_letter_command(
        &settings,
        worker::DeadLetterCommand::Replay {
            ids: Vec::new(),
            all: true,
        },
    )
    .await
    .expect("replay");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let mut back_on_shard = false;
    for _ in 0..100 {
        let dead: u64 = conn
            .xlen(format!("{}{}", keys[2], worker::stream::DEAD_LETTER_SUFFIX))
            .await
            .expect("xlen");
        // Replayed onto shard 2, consumed again, and dead-lettered again:
        // the entry never leaves its shard.
        let reasons: redis::streams::StreamRangeReply = conn
            .xrange_all(format!("{}{}", keys[2], worker::stream::DEAD_LETTER_SUFFIX))
            .await
            .expect("xrange");
        if dead == 1
            && reasons.ids.iter().any(|entry| {
                entry
                    .get::<String>(worker::stream::DL_SOURCE_ID)
                    .is_some_and(|source| source.starts_with(char::is_numeric))
                    && entry.get::<String>("offer_id").as_deref() == Some("x")
            })
            && conn
                .xpending::<_, _, redis::streams::StreamPendingReply>(
                    &keys[2],
                    worker::stream::DEFAULT_GROUP,
                )
                .await
                .expect("xpending")
                .count()
                == 0
        {
            back_on_shard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back_on_shard, "the replayed entry is handled on its shard");
    for key in [&keys[0], &keys[1], &keys[3]] {
        let dead: u64 = conn
            .xlen(format!("{key}{}", worker::stream::DEAD_LETTER_SUFFIX))
            .await
            .expect("xlen");
        assert_eq!(dead, 0, "{key}");
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM clicks").await, expected);

    shutdown.cancel();
    for worker in workers {
        worker.await.expect("join").expect("worker");
    }
    ingest.stop().await;
    stream.drop().await;
    db.drop().await;
}
