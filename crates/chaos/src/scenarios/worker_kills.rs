//! Scenario 1: `kill -9` of a random worker at random moments, again and again, with
//! three workers running; each is started again at once, usually under its
//! old consumer name (it re-reads what it left pending), sometimes under a
//! new one (another worker must claim what the dead one held).

use std::time::Instant;

use rand::Rng;

use super::{Outcome, Scene};

const WORKERS: usize = 3;

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(WORKERS).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let end = Instant::now() + scene.plan.worker_kills_for;
    let mut outcome = Outcome::default();
    let (mut kills, mut renamed, mut mid_batch) = (0, 0, 0);
    let pause = scene.pause();
    scene.hold(pause).await?;
    while Instant::now() < end {
        let index = scene.rng.random_range(0..WORKERS);
        let new_name = scene.rng.random_bool(1.0 / 3.0);
        let consumers = scene.stage.kill_worker(index).await?;
        let killed = Instant::now();
        if scene.queue.pending_with(&consumers).await? > 0 {
            mid_batch += 1;
        }
        scene.stage.restart_worker(index, new_name).await?;
        kills += 1;
        renamed += usize::from(new_name);
        outcome
            .recoveries
            .push(scene.recovery(&load, killed).await?);
        let pause = scene.pause();
        scene.hold(pause).await?;
    }
    outcome.tally = load.stop().await?;
    outcome.notes.push(format!(
        "kills: {kills}, {mid_batch} of them while the worker held unacknowledged entries; {renamed} restarted under a new consumer name"
    ));
    Ok(outcome)
}
