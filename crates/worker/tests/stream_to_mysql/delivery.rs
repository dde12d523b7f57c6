//! Delivery: concurrent workers, crashes around the commit, claiming, trimming and shutdown.

use std::time::Duration;

use clickstream::StreamNames;
use testkit::click;
use tokio_util::sync::CancellationToken;
use worker::{Lane, LaneOptions, Outcome};

use super::{Env, drain};

#[tokio::test]
async fn two_workers_at_once_count_each_click_once() {
    let env = Env::new().await;
    // Every click three times, interleaved, so both workers see copies.
    let unique: Vec<_> = (0..400).map(|n| click("t", n)).collect();
    let mut stream: Vec<_> = Vec::new();
    for round in 0..3 {
        stream.extend(unique.iter().skip(round * 7).cloned());
        stream.extend(unique.iter().take(round * 7).cloned());
    }
    env.add(&stream).await;
    let mut a = env.worker_with(Env::options(&env, "wa")).await;
    let mut b = env.worker_with(Env::options(&env, "wb")).await;
    let (ra, rb) = tokio::join!(drain(&mut a), drain(&mut b));
    assert!(
        !ra.is_empty() && !rb.is_empty(),
        "both workers took batches"
    );
    let inserted: u64 = ra.iter().chain(&rb).map(|r| r.inserted).sum();
    assert_eq!(inserted, 400);
    assert_eq!(env.clicks().await, 400);
    assert_eq!(env.distinct_clicks().await, 400);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn a_worker_killed_after_commit_but_before_ack_counts_once_after_restart() {
    let env = Env::new().await;
    let clicks: Vec<_> = (0..80).map(|n| click("k", n)).collect();
    env.add(&clicks).await;
    {
        let mut worker = env.worker("w1").await;
        let mut batch = worker.read_batch().await.expect("read").expect("a batch");
        let stored = worker
            .store(&mut batch)
            .await
            .expect("store")
            .expect("stored");
        assert_eq!(stored.inserted, 80);
        // Killed here: committed, never acknowledged.
    }
    assert_eq!(env.pending().await, 80);
    let mut restarted = env.worker("w1").await;
    let reports = drain(&mut restarted).await;
    assert_eq!(
        reports.iter().map(|r| r.entries).sum::<usize>(),
        80,
        "pending entries re-read"
    );
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<u64>(), 0);
    assert_eq!(env.clicks().await, 80);
    env.assert_aggregates_match_clicks().await;
    assert_eq!(env.pending().await, 0);
    env.drop().await;
}

#[tokio::test]
async fn a_worker_killed_before_commit_loses_nothing() {
    let env = Env::new().await;
    let clicks: Vec<_> = (0..60).map(|n| click("b", n)).collect();
    env.add(&clicks).await;
    {
        let mut worker = env.worker("w1").await;
        let batch = worker.read_batch().await.expect("read").expect("a batch");
        assert_eq!(batch.clicks.len(), 60);
        // Killed here: read, nothing committed.
    }
    assert_eq!(env.clicks().await, 0);
    let mut restarted = env.worker("w1").await;
    drain(&mut restarted).await;
    assert_eq!(env.clicks().await, 60);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn entries_of_a_dead_consumer_are_claimed_by_another() {
    let env = Env::new().await;
    env.add(&(0..30).map(|n| click("c", n)).collect::<Vec<_>>())
        .await;
    {
        let mut dead = env.worker("dead").await;
        dead.read_batch().await.expect("read").expect("a batch");
    }
    let mut options = env.options("alive");
    options.claim_idle = Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut alive = env.worker_with(options).await;
    drain(&mut alive).await;
    assert_eq!(env.clicks().await, 30);
    assert_eq!(env.pending().await, 0);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn only_acknowledged_entries_are_trimmed() {
    let env = Env::new().await;
    env.add(&(0..40).map(|n| click("x", n)).collect::<Vec<_>>())
        .await;
    let mut options = env.options("w1");
    options.batch_size = 25;
    let mut worker = env.worker_with(options.clone()).await;
    // First 25 committed and acknowledged.
    assert!(matches!(
        worker.process_once().await.expect("step"),
        Outcome::Processed(_)
    ));
    // Next 15 delivered to another consumer but not acknowledged.
    let other_options = LaneOptions {
        names: StreamNames {
            consumer: "w2".to_owned(),
            ..options.names.clone()
        },
        ..options
    };
    let mut other = env.worker_with(other_options.clone()).await;
    other.read_batch().await.expect("read").expect("a batch");
    drop(other);
    // And five more nobody has read yet.
    env.add(&(40..45).map(|n| click("x", n)).collect::<Vec<_>>())
        .await;
    let trimmed = worker.trim_acknowledged().await.expect("trim");
    assert_eq!(trimmed, 25);
    let len = clickstream::consumer::length(
        &mut env.stream.conn().await,
        std::slice::from_ref(&env.stream.key),
    )
    .await
    .expect("xlen");
    assert_eq!(len, 20, "pending and unread entries stay");
    let mut other = env.worker_with(other_options).await;
    drain(&mut other).await;
    assert_eq!(env.clicks().await, 45);
    env.drop().await;
}

#[tokio::test]
async fn the_run_loop_stops_on_shutdown() {
    let env = Env::new().await;
    env.add(&(0..10).map(|n| click("s", n)).collect::<Vec<_>>())
        .await;
    let shutdown = CancellationToken::new();
    let redis = env.stream.redis.clone();
    let worker = Lane::start(
        env.options("w1"),
        redis,
        env.db.conn.clone(),
        shutdown.clone(),
    )
    .await
    .expect("start");
    let running = tokio::spawn(worker.run());
    for _ in 0..100 {
        if env.clicks().await == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops within 5 s")
        .expect("joins")
        .expect("clean exit");
    assert_eq!(env.clicks().await, 10);
    env.drop().await;
}
