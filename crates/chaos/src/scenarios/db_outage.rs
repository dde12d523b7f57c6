//! Scenario 3: MariaDB stopped under load, then started again: the workers must back
//! off, acknowledge nothing while nothing can commit, and catch up.

use std::time::{Duration, Instant};

use super::{Outcome, Scene};

/// After the stop, time for acknowledgements of commits that made it just
/// before it.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let (before, after) = scene.plan.outage_margin;
    let down = scene.plan.db_down;
    scene.hold(before).await?;

    let retries_before = scene.stage.worker_log_lines("retrying the batch");
    scene.cluster.mariadb.stop().await;
    scene.hold(SETTLE.min(down)).await?;
    let acknowledged_early = acknowledged(scene).await?;
    scene.hold(down.saturating_sub(SETTLE)).await?;
    let acknowledged_late = acknowledged(scene).await?;
    scene.cluster.mariadb.restart().await;
    let lifted = Instant::now();
    let retries = scene.stage.worker_log_lines("retrying the batch") - retries_before;

    let mut outcome = Outcome::default();
    outcome
        .recoveries
        .push(scene.recovery(&load, lifted).await?);
    scene.hold(after).await?;
    outcome.tally = load.stop().await?;

    let acked_while_down = acknowledged_late.saturating_sub(acknowledged_early);
    if acked_while_down > 0 {
        outcome.failures.push(format!(
            "{acked_while_down} entries acknowledged while MariaDB was down"
        ));
    }
    outcome.notes.push(format!(
        "MariaDB down {:.0} s: {acked_while_down} entries acknowledged meanwhile; the workers logged {retries} batch retries (a short outage is also waited out inside the connection pool)",
        down.as_secs_f64()
    ));
    Ok(outcome)
}

/// Entries the group has acknowledged so far.
async fn acknowledged(scene: &mut Scene<'_>) -> anyhow::Result<u64> {
    scene
        .queue
        .acknowledged()
        .await?
        .ok_or_else(|| anyhow::anyhow!("Redis does not report the group's entries-read"))
}
