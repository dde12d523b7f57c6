//! `CLICKS_STREAM_SHARDS`: ingest spreads clicks over hash-tagged stream keys,
//! workers cover every shard, and each click is still stored and counted
//! exactly once; dead letters stay on their shard and replay from there.

use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support;

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
    assert_eq!(db.scalar("SELECT COUNT(*) FROM clicks").await, expected);

    shutdown.cancel();
    for worker in workers {
        worker.await.expect("join").expect("worker");
    }
    ingest.stop().await;
    stream.drop().await;
    db.drop().await;
}

/// The offer ids `0..` whose clicks route to `shard` of [`SHARDS`].
fn offers_of_shard(shard: usize) -> impl Iterator<Item = u64> {
    (1u64..).filter(move |offer| clickstream::layout::shard_of(*offer, SHARDS as usize) == shard)
}

fn routed_click(id: &str, offer_id: u64) -> Value {
    json!({
        "click_id": id,
        "offer_id": offer_id,
        "source": "failover",
        "timestamp": "2025-07-01T10:00:00+00:00",
        "signature": "sig",
    })
}

/// Ingest on `stream` split into [`SHARDS`] shards, with `extra` flags.
async fn sharded_ingest(stream: &TestStream, extra: &[&str]) -> Ingest {
    let shards_flag = format!("--clicks-stream-shards={SHARDS}");
    let mut flags = vec!["--http-workers=2", shards_flag.as_str()];
    flags.extend_from_slice(extra);
    Ingest::start(&stream.redis_url, &stream.key, &flags).await
}

/// Posts one click of `offer_id`: its status and whether it carried `Retry-After`.
async fn post_routed(ingest: &Ingest, id: &str, offer_id: u64) -> (u16, bool) {
    let body = serde_json::to_vec(&routed_click(id, offer_id)).expect("json");
    let response = ingest.post_signed("/api/webhook/clicks", body).await;
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

/// One worker process on `stream`'s shards.
async fn sharded_worker(
    db: &TestDb,
    stream: &TestStream,
    name: &str,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let app = worker::Application::build(worker_settings(db, stream, name), shutdown.clone())
        .await
        .expect("worker");
    tokio::spawn(app.run_until_stopped())
}

/// Kill -9 the master of a shard under load with `REDIS_MIN_REPLICAS_ACK=1`:
/// its replica takes over, the killed node returns mid-load as the new
/// master's replica, no binary restarts, and every click answered 202 is
/// stored exactly once (the 503s are resent, as a sender would). With one
/// replica per master the shard has no replica to acknowledge between the
/// kill and the return, so it answers 503 meanwhile: a 2xx keeps its promise.
#[tokio::test]
async fn a_killed_master_is_replaced_and_no_acknowledged_click_is_lost() {
    let mut cluster = RedisCluster::start().await;
    let stream = TestStream::create_on(&cluster.url());
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let keys = stream.layout(SHARDS).streams().to_vec();
    let victim = cluster
        .master_of_slot(clickstream::layout::slot_of(keys[0].as_bytes()))
        .await;
    let heir = cluster.replicas_of(victim).await[0];

    let ingest = sharded_ingest(&stream, &["--redis-min-replicas-ack=1"]).await;
    let worker = sharded_worker(&db, &stream, "failover", &shutdown).await;

    // Clicks of every shard, in rounds of 16; the master of shard 0 dies after round 10.
    let offers: Vec<Vec<u64>> = (0..SHARDS as usize)
        .map(|shard| offers_of_shard(shard).take(4).collect())
        .collect();
    let post = |id: String, offer: u64| {
        let ingest = &ingest;
        async move {
            let (status, retry_after) = post_routed(ingest, &id, offer).await;
            (id, offer, status, retry_after)
        }
    };
    let mut unacknowledged: Vec<(String, u64)> = Vec::new();
    let mut acknowledged = 0u64;
    let mut posted = 0u64;
    let mut killed_at: Option<std::time::Instant> = None;
    let mut promoted_after = None;
    let mut shard0_back_after = None;
    let mut rounds_since_back = 0;
    // Rounds go on until shard 0 has taken clicks for 10 rounds again (40 s at most).
    for round in 0u64.. {
        if rounds_since_back >= 10
            || killed_at.is_some_and(|killed| killed.elapsed() > Duration::from_secs(40))
        {
            break;
        }
        if round == 10 {
            cluster.kill(victim);
            killed_at = Some(std::time::Instant::now());
        }
        if let Some(killed) = killed_at
            && promoted_after.is_none()
            && cluster.masters().await.contains(&heir)
        {
            promoted_after = Some(killed.elapsed());
            // The orchestrator brings the dead node back: it rejoins as a replica.
            cluster.restart(victim).await;
        }
        if shard0_back_after.is_some() {
            rounds_since_back += 1;
        }
        let requests = (0..16u64).map(|n| {
            let shard = (n % u64::from(SHARDS)) as usize;
            post(
                format!("fo-{round}-{n}"),
                offers[shard][(n / 4) as usize % 4],
            )
        });
        for (id, offer, status, retry_after) in futures_util::future::join_all(requests).await {
            posted += 1;
            match status {
                202 => {
                    acknowledged += 1;
                    if let Some(killed) = killed_at
                        && shard0_back_after.is_none()
                        && clickstream::layout::shard_of(offer, SHARDS as usize) == 0
                    {
                        shard0_back_after = Some(killed.elapsed());
                    }
                }
                503 => {
                    assert!(retry_after, "a 503 carries Retry-After");
                    assert!(killed_at.is_some(), "503 before any fault for {id}");
                    unacknowledged.push((id, offer));
                }
                other => panic!("{id}: unexpected status {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let promoted_after = promoted_after.expect("the replica took over");
    let back_after = shard0_back_after.expect("shard 0 answered 202 again after the failover");
    eprintln!(
        "failover: replica promoted {promoted_after:?} after the kill; shard 0 acknowledged clicks again {back_after:?} after the kill (the old master back as a replica); {} of {posted} clicks answered 503 meanwhile",
        unacknowledged.len()
    );
    assert!(back_after < Duration::from_secs(15), "{back_after:?}");
    assert_ne!(
        cluster
            .master_of_slot(clickstream::layout::slot_of(keys[0].as_bytes()))
            .await,
        victim
    );

    // The sender resends what was not acknowledged; everything is stored once.
    for (id, offer) in &unacknowledged {
        let (_, _, status, _) = post(id.clone(), *offer).await;
        assert_eq!(status, 202, "{id}");
    }
    let expected = posted;
    assert_eq!(acknowledged + unacknowledged.len() as u64, expected);
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));

    // The killed master came back as a replica; the cluster is whole again.
    assert!(cluster.replicas_of(heir).await.contains(&victim));
    cluster.wait_until_ok(Duration::from_secs(20)).await;
    let (_, _, status, _) = post("fo-after-return".to_owned(), offers[0][0]).await;
    assert_eq!(status, 202);
    assert_eq!(db.settled_click_count(expected + 1).await, expected + 1);

    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    ingest.stop().await;
    stream.drop().await;
    db.drop().await;
}

/// A shard whose master and replica are both down: its clicks get 503 with
/// Retry-After (never 2xx, never a hang) while the other shards go on; when
/// the nodes return, everything recovers without a restart.
#[tokio::test]
async fn a_slot_without_a_master_answers_503_and_recovers() {
    let mut cluster = RedisCluster::start().await;
    let stream = TestStream::create_on(&cluster.url());
    let keys = stream.layout(SHARDS).streams().to_vec();
    let slot = clickstream::layout::slot_of(keys[0].as_bytes());
    let master = cluster.master_of_slot(slot).await;
    let replicas = cluster.replicas_of(master).await;
    let mut other_shard = None;
    for (shard, key) in keys.iter().enumerate().skip(1) {
        let owner = cluster
            .master_of_slot(clickstream::layout::slot_of(key.as_bytes()))
            .await;
        if owner != master {
            other_shard = Some(shard);
            break;
        }
    }
    let other_shard = other_shard.expect("a shard on another master");

    let ingest = sharded_ingest(&stream, &["--redis-min-replicas-ack=1"]).await;
    let post = |id: &str, shard: usize| {
        let ingest = &ingest;
        let id = id.to_owned();
        let offer = offers_of_shard(shard).next().expect("offer");
        async move {
            let started = std::time::Instant::now();
            let (status, retry_after) = post_routed(ingest, &id, offer).await;
            (status, retry_after, started.elapsed())
        }
    };
    assert_eq!(post("nm-before", 0).await.0, 202);

    cluster.kill(master);
    for replica in &replicas {
        cluster.kill(*replica);
    }
    let mut refused = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let (status, retry_after, took) = post(&format!("nm-down-{refused}"), 0).await;
        assert_ne!(
            status / 100,
            2,
            "a click of a slot without a master was acknowledged"
        );
        assert_eq!(status, 503);
        assert!(retry_after);
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
        refused += 1;
        if refused >= 5 {
            break;
        }
    }
    assert_eq!(refused, 5);
    // Other masters keep serving their shards (cluster-require-full-coverage no).
    let mut other_ok = false;
    for attempt in 0..40 {
        if post(&format!("nm-other-{attempt}"), other_shard).await.0 == 202 {
            other_ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        other_ok,
        "shard {other_shard} on a live master accepts clicks"
    );

    cluster.restart(master).await;
    for replica in &replicas {
        cluster.restart(*replica).await;
    }
    cluster.wait_until_ok(Duration::from_secs(30)).await;
    let mut recovered = false;
    for attempt in 0..80 {
        if post(&format!("nm-after-{attempt}"), 0).await.0 == 202 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "shard 0 accepts clicks again once its nodes are back"
    );

    ingest.stop().await;
    stream.drop().await;
}

/// A shard's slot moves to another master under load (resharding): the
/// clients follow `ASK` and `MOVED` without a restart, the consumer group
/// moves with its stream, and every click is stored exactly once.
#[tokio::test]
async fn clicks_keep_flowing_while_a_shard_moves_to_another_master() {
    let cluster = RedisCluster::start().await;
    let stream = TestStream::create_on(&cluster.url());
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let keys = stream.layout(SHARDS).streams().to_vec();
    let slot = clickstream::layout::slot_of(keys[0].as_bytes());
    let from = cluster.master_of_slot(slot).await;
    let to = cluster
        .masters()
        .await
        .into_iter()
        .find(|master| *master != from)
        .expect("another master");

    let ingest = sharded_ingest(&stream, &["--redis-timeout-ms=3000"]).await;
    let worker = sharded_worker(&db, &stream, "reshard", &shutdown).await;
    let offers: Vec<u64> = offers_of_shard(0).take(8).collect();
    let post = |id: String, offer: u64| {
        let ingest = &ingest;
        async move { (id.clone(), offer, post_routed(ingest, &id, offer).await.0) }
    };

    let mut refused = Vec::new();
    let send_round = async |round: u64, refused: &mut Vec<(String, u64)>| {
        let requests = (0..8u64).map(|n| post(format!("rs-{round}-{n}"), offers[n as usize]));
        for (id, offer, status) in futures_util::future::join_all(requests).await {
            match status {
                202 => {}
                503 => refused.push((id, offer)),
                other => panic!("{id}: {other}"),
            }
        }
    };
    for round in 0..10 {
        send_round(round, &mut refused).await;
    }
    assert!(refused.is_empty(), "{refused:?}");
    // The move and the traffic side by side.
    let moving = cluster.move_slot(slot, to, Duration::from_millis(100));
    let traffic = async {
        let mut refused_meanwhile = Vec::new();
        for round in 10..40 {
            send_round(round, &mut refused_meanwhile).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        refused_meanwhile
    };
    let ((), refused_meanwhile) = tokio::join!(moving, traffic);
    assert_eq!(cluster.master_of_slot(slot).await, to, "the slot moved");
    for round in 40..50 {
        send_round(round, &mut refused).await;
    }
    assert!(
        refused.is_empty(),
        "after the move every click is accepted: {refused:?}"
    );
    // Ingest follows the moved slot itself: no sender had to retry.
    assert!(refused_meanwhile.is_empty(), "{refused_meanwhile:?}");
    let expected = 50 * 8;
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));

    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    ingest.stop().await;
    stream.drop().await;
    db.drop().await;
}
