//! Clicks through every shard, on one Redis or a cluster; dead letters stay on their shard.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support::Ingest;

use super::{SHARDS, worker_settings};

fn click(n: u64) -> Value {
    json!({
        "click_id": format!("sharded-{n}"),
        "offer_id": 2000 + n % 7,
        "source": format!("net_{}", n % 3),
        "timestamp": format!("2025-07-{:02}T{:02}:15:00+00:00", 1 + n % 2, n % 24),
        "signature": "sig",
    })
}

#[tokio::test]
async fn sharded_clicks_are_stored_once_by_workers_covering_every_shard() {
    clicks_flow_through_every_shard(TestStream::create()).await;
}

/// The same pipeline on a Redis Cluster of 3 masters and 3 replicas: the
/// shards spread over the masters, every call stays within one slot.
#[tokio::test]
async fn sharded_clicks_flow_the_same_through_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let stream = TestStream::create_on(&cluster.url());
    let masters: std::collections::BTreeSet<usize> = {
        let mut owners = std::collections::BTreeSet::new();
        for key in stream.layout(SHARDS).streams() {
            owners.insert(
                cluster
                    .master_of_slot(clickstream::layout::slot_of(key.as_bytes()))
                    .await,
            );
        }
        owners
    };
    assert!(masters.len() >= 2, "{SHARDS} shards on masters {masters:?}");
    clicks_flow_through_every_shard(stream).await;
}

async fn clicks_flow_through_every_shard(stream: TestStream) {
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let keys = stream.layout(SHARDS).streams().to_vec();

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
        let entries = clickstream::inspect::entries(&mut conn, key)
            .await
            .expect("xrange");
        let clicks: Vec<domain::StreamClick> = entries
            .iter()
            .flat_map(|entry| domain::stream_entry::decode_entry(&entry.fields).expect("clicks"))
            .collect();
        assert!(clicks.len() > 20, "{key}: {}", clicks.len());
        for click in &clicks {
            let offer_id = click.click.offer_id.get();
            assert_eq!(
                clickstream::layout::shard_of(offer_id, SHARDS as usize),
                shard,
                "{offer_id}"
            );
        }
        total += clicks.len() as u64;
    }
    assert_eq!(total, 200 + 50 + 200);
    let plain = clickstream::consumer::length(&mut conn, std::slice::from_ref(&stream.key))
        .await
        .expect("xlen");
    assert_eq!(plain, 0);
    // An undecodable entry on shard 2 must end in shard 2's dead letters.
    clickstream::inspect::add_raw(
        &mut conn,
        &keys[2],
        &[("click_id", "broken"), ("offer_id", "x")],
    )
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
    let shards = worker_settings(&db, &stream, "shard-check").shard_names("shard-check");
    for (shard, names) in shards.iter().enumerate() {
        let pending = clickstream::inspect::pending_count(&mut conn, names)
            .await
            .expect("xpending");
        assert_eq!(pending, 0, "{}", names.stream);
        let dead = clickstream::dead_letter::list(&mut conn, names, usize::MAX)
            .await
            .expect("dead letters");
        assert_eq!(dead.len(), usize::from(shard == 2), "{}", names.stream);
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
        // Replayed onto shard 2, consumed again, and dead-lettered again:
        // the entry never leaves its shard.
        let dead = clickstream::dead_letter::list(&mut conn, &shards[2], usize::MAX)
            .await
            .expect("dead letters");
        let pending = clickstream::inspect::pending_count(&mut conn, &shards[2])
            .await
            .expect("xpending");
        if dead.len() == 1
            && dead[0].source_id.starts_with(char::is_numeric)
            && dead[0]
                .fields
                .contains(&("offer_id".to_owned(), "x".to_owned()))
            && pending == 0
        {
            back_on_shard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back_on_shard, "the replayed entry is handled on its shard");
    for names in [&shards[0], &shards[1], &shards[3]] {
        let dead = clickstream::dead_letter::list(&mut conn, names, usize::MAX)
            .await
            .expect("dead letters");
        assert!(dead.is_empty(), "{}", names.stream);
    }
    assert_eq!(db.click_count().await, expected);

    shutdown.cancel();
    for worker in workers {
        worker.await.expect("join").expect("worker");
    }
    ingest.stop().await;
    stream.drop().await;
    db.drop().await;
}
