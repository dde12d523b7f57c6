//! Scenario 10: Redis Cluster, a slot range without master. A master and
//! its replica are both killed: the clicks of that master's shards must get
//! 503, never 2xx (nothing can hold them), while the other shards keep
//! answering 2xx (a probe sends clicks of those shards only, so that some
//! requests are not held up by the senders' retries). Then both nodes are
//! started again, master first, and everything must recover by itself.

use std::time::Instant;

use super::failover::{DYING, seconds};
use super::{Outcome, Scene};

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(super::failover::WORKERS).await?;
    let starts = scene.stage.starts();
    let (master, shards) = scene.pick_master().await?;
    let others: Vec<usize> = (0..scene.stage.layout().shard_count())
        .filter(|shard| !shards.contains(shard))
        .collect();
    let replicas = scene.redis()?.replicas_of(master).await?;
    let loads = scene.start_loads(Some(&others))?;
    let (before, after) = scene.plan.failover_margin;
    scene.hold(before).await?;

    // The replica first, so that it cannot take over.
    for replica in &replicas {
        scene.redis_mut()?.kill(*replica);
    }
    scene.redis_mut()?.kill(master);
    let killed = Instant::now();
    scene.hold(scene.plan.masterless).await?;

    let returning = Instant::now();
    let limit = scene.plan.failover_limit;
    scene.redis_mut()?.restart(master).await?;
    scene.redis()?.wait_until_ok(limit).await?;
    for replica in &replicas {
        scene.redis_mut()?.restart(*replica).await?;
    }
    scene.redis()?.wait_until_ok(limit).await?;
    let whole = Instant::now();

    let mut outcome = Outcome::default();
    outcome
        .recoveries
        .push(scene.recovery(loads.traffic(), returning).await?);
    scene.hold(after).await?;
    scene.check_no_restarts(starts, &mut outcome)?;

    let answered = loads.stop().await?;
    let (down, up) = answered.between(&shards, killed + DYING, returning);
    if down.ok > 0 {
        outcome.failures.push(format!(
            "{} request(s) on shards {shards:?} answered 2xx while their slots had no master",
            down.ok
        ));
    }
    if down.unavailable == 0 {
        outcome.failures.push(format!(
            "no request on shards {shards:?} was answered 503 while their slots had no master"
        ));
    }
    if up.ok == 0 {
        outcome.failures.push(format!(
            "the other shards {others:?} answered no request 2xx while shards {shards:?} had no master"
        ));
    }
    let back = answered.first_2xx(&shards, killed + DYING);
    match back {
        Some(back) => outcome.notes.push(format!(
            "masterless {}: node {master} (master of shards {shards:?}) and its replica(s) {replicas:?} killed -9; meanwhile its shards' requests: {}; the other shards' requests: {} (slowest 2xx {}); restarted: whole again after {}, shards accepting after {}",
            seconds(returning - killed),
            down.line(),
            up.line(),
            seconds(up.slowest_ok),
            seconds(whole - returning),
            seconds(back.saturating_duration_since(returning)),
        )),
        None => outcome.failures.push(format!(
            "shards {shards:?} never answered 2xx again after their nodes were restarted"
        )),
    }
    outcome.tally = answered.into_tally();
    Ok(outcome)
}
