//! Scenario 2: `kill -9` of ingest under load, again and again; it is started again
//! on the same port after a moment. Senders retry every request that got no
//! answer, as webhook senders do.

use std::time::{Duration, Instant};

use rand::Rng;

use super::{Outcome, Scene};

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let end = Instant::now() + scene.plan.ingest_kills_for;
    let mut outcome = Outcome::default();
    let mut kills = 0;
    let pause = scene.pause();
    scene.hold(pause).await?;
    while Instant::now() < end {
        scene.stage.kill_ingest().await?;
        let killed = Instant::now();
        kills += 1;
        // Down for a moment: the senders meet refused connections.
        let down = Duration::from_millis(scene.rng.random_range(0..=500));
        scene.hold(down).await?;
        scene.stage.start_ingest().await?;
        outcome
            .recoveries
            .push(scene.recovery(&load, killed).await?);
        let pause = scene.pause();
        scene.hold(pause).await?;
    }
    outcome.tally = load.stop().await?;
    outcome.notes.push(format!("kills: {kills}"));
    Ok(outcome)
}
