//! Resharding under load: a shard's slot moves to another master; every click stored once.

use std::time::Duration;

use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use super::{SHARDS, offers_of_shard, post_routed, sharded_ingest, sharded_worker};

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
