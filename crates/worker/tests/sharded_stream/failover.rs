//! Failover under load: a killed master is replaced; a slot without a master answers 503.

use std::time::Duration;

use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use super::{SHARDS, offers_of_shard, post_routed, sharded_ingest, sharded_worker};

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
