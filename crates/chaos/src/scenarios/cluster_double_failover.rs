//! Scenario 11: Redis Cluster, the old master returns mid-load and is
//! promoted back. A master is killed and its replica takes over; the old
//! master is started again while the load goes on and rejoins as a
//! replica; then the new master is killed, so the old one is promoted back.
//! Each kill is timed as in scenario 9, and every check must pass.

use super::{Outcome, Scene};

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(super::failover::WORKERS).await?;
    let starts = scene.stage.starts();
    let loads = scene.start_loads(None)?;
    let (before, after) = scene.plan.failover_margin;
    scene.hold(before).await?;

    let mut outcome = Outcome::default();
    let (master, _) = scene.pick_master().await?;
    let first = scene.fail_over(master).await?;
    outcome
        .recoveries
        .push(scene.recovery(loads.traffic(), first.returning).await?);
    let pause = scene.plan.failover_pause;
    scene.hold(pause).await?;

    let second = scene.fail_over(first.promoted_node).await?;
    outcome
        .recoveries
        .push(scene.recovery(loads.traffic(), second.returning).await?);
    if second.promoted_node != master {
        outcome.failures.push(format!(
            "node {} took over from node {}, not the old master, node {master}",
            second.promoted_node, first.promoted_node
        ));
    }
    scene.hold(after).await?;
    scene.check_no_restarts(starts, &mut outcome)?;

    let answered = loads.stop().await?;
    first.judge("failover 1", &answered, &mut outcome);
    second.judge(
        "failover 2 (the old master promoted back)",
        &answered,
        &mut outcome,
    );
    outcome.tally = answered.into_tally();
    Ok(outcome)
}
