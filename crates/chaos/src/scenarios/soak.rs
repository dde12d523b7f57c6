//! Scenario 8: Soak: a steady load for a long time with a worker killed every so
//! often (workers 2 and 3 in turn; worker 1 and ingest live throughout).
//! Memory must stay flat: the RSS of every process that lived through the
//! whole soak is taken after the warm-up and at the end.

use std::time::{Duration, Instant};

use crate::load::{LoadPlan, Workload};

use super::{Outcome, Scene};

/// The RSS at the end may exceed the RSS after the warm-up by this share…
const RSS_GROWTH_SHARE: f64 = 0.25;
/// …plus this many MB.
const RSS_GROWTH_MB: f64 = 16.0;
const SENDERS: usize = 32;

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let rate = scene.plan.soak_rate;
    let plan = LoadPlan {
        senders: SENDERS,
        rate,
        workload: Workload::Fresh {
            batch_share: 0.05,
            batch_max: 20,
            resend_share: 0.05,
        },
        // Millions of requests: counts only.
        keep_records: false,
        ..scene.traffic()
    };
    let load = scene.start_load(plan);
    let soak = scene.plan.soak_for;
    let end = Instant::now() + soak;
    let warmup = (soak / 10).min(Duration::from_secs(60));
    scene.hold(warmup).await?;
    let rss_start = scene.stage.rss();

    let mut outcome = Outcome::default();
    let mut kills = 0;
    loop {
        let next = Instant::now() + scene.plan.soak_kill_every;
        if next >= end {
            break;
        }
        scene.hold(next - Instant::now()).await?;
        // Workers 2 and 3 take turns; worker 1 lives throughout.
        let index = 1 + kills % 2;
        scene.stage.kill_worker(index).await?;
        let killed = Instant::now();
        scene.stage.restart_worker(index, false).await?;
        kills += 1;
        outcome
            .recoveries
            .push(scene.recovery(&load, killed).await?);
    }
    scene
        .hold(end.saturating_duration_since(Instant::now()))
        .await?;
    let rss_end = scene.stage.rss();
    outcome.tally = load.stop().await?;

    let mut lines = Vec::new();
    for (label, start) in &rss_start {
        let end = rss_end
            .iter()
            .find(|(other, _)| other == label)
            .and_then(|(_, mb)| *mb);
        let (Some(start), Some(end)) = (*start, end) else {
            continue;
        };
        // Restarted workers began a new life: only report them.
        let lived_throughout = !label.ends_with("-2") && !label.ends_with("-3");
        lines.push(format!("{label} {start:.1} → {end:.1} MB"));
        if lived_throughout && end > start * (1.0 + RSS_GROWTH_SHARE) + RSS_GROWTH_MB {
            outcome.failures.push(format!(
                "{label}: RSS grew from {start:.1} to {end:.1} MB during the soak"
            ));
        }
    }
    outcome.notes.push(format!(
        "{:.0} min at {rate} requests/s, worker kills: {kills}; RSS after {:.0} s warm-up → end: {}",
        soak.as_secs_f64() / 60.0,
        warmup.as_secs_f64(),
        lines.join(", ")
    ));
    Ok(outcome)
}
