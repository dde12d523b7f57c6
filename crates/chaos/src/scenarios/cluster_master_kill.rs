//! Scenario 9: Redis Cluster master `kill -9` under load. The stream is split
//! in shards over three masters; ingest answers 2xx only once a replica
//! holds a click. One master is killed; its replica takes over; the killed
//! node is started again at once, as an orchestrator would, and rejoins as
//! the new master's replica. Its shards answer 503 from the kill until it
//! is back in sync (the senders retry), the other shards go on, and no
//! binary needs a restart. The time from the kill to the promotion and to
//! the shards' first 2xx again is measured; the recovery, as in scenario 4,
//! from the fault's end: the killed node's restart.

use super::{Outcome, Scene};

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(super::failover::WORKERS).await?;
    let starts = scene.stage.starts();
    let loads = scene.start_loads(None)?;
    let (before, after) = scene.plan.failover_margin;
    scene.hold(before).await?;

    let (master, _) = scene.pick_master().await?;
    let failover = scene.fail_over(master).await?;
    let mut outcome = Outcome::default();
    outcome
        .recoveries
        .push(scene.recovery(loads.traffic(), failover.returning).await?);
    scene.hold(after).await?;
    scene.check_no_restarts(starts, &mut outcome)?;

    let answered = loads.stop().await?;
    failover.judge("failover", &answered, &mut outcome);
    outcome.tally = answered.into_tally();
    Ok(outcome)
}
