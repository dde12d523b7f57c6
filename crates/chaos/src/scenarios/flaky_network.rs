//! Scenario 5: The workers reach MariaDB through a [`FaultProxy`] that, phase after
//! phase, adds latency, resets connections at random (a commit's answer may
//! be lost after the commit), cuts every connection at once, and refuses new
//! ones for a while, then heals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proxy::FaultProxy;

use super::{Outcome, Scene};

/// Between two cuts of every connection, in the cutting phase.
const CUT_EVERY: Duration = Duration::from_millis(300);

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    let proxy = Arc::new(FaultProxy::start(scene.cluster.mariadb_addr()?).await?);
    scene.stage.route_workers_through(Arc::clone(&proxy));
    scene.start_system(3).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let phase = scene.plan.proxy_phase;
    let cycles = if phase >= Duration::from_secs(5) {
        2
    } else {
        1
    };
    let mut outcome = Outcome::default();
    scene.hold(phase).await?;
    for _ in 0..cycles {
        proxy.set_delay(Duration::from_millis(40));
        scene.hold(phase).await?;
        proxy.set_delay(Duration::from_millis(5));
        proxy.set_reset_chance(0.05);
        scene.hold(phase).await?;
        proxy.set_reset_chance(0.0);
        let cutting = Instant::now();
        while cutting.elapsed() < phase {
            proxy.reset_all();
            scene.hold(CUT_EVERY).await?;
        }
        proxy.set_refusing(true);
        proxy.reset_all();
        scene.hold(phase).await?;
        proxy.heal();
        let lifted = Instant::now();
        outcome
            .recoveries
            .push(scene.recovery(&load, lifted).await?);
    }
    scene.hold(phase).await?;
    outcome.tally = load.stop().await?;
    let stats = proxy.stats();
    if stats.resets == 0 {
        outcome
            .failures
            .push("the proxy reset no connection: the faults did not bite".to_owned());
    }
    outcome.notes.push(format!(
        "{cycles} cycle(s) of 40 ms latency, 5% resets per chunk, all connections cut every {} ms, new connections refused ({:.0} s each); the proxy saw {} connections and reset {}",
        CUT_EVERY.as_millis(),
        phase.as_secs_f64(),
        stats.connections,
        stats.resets
    ));
    Ok(outcome)
}
