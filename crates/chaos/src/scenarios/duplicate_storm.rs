//! Scenario 7: A duplicate storm: the same 1,000 clicks sent again and again by 8
//! senders at once, half of them one click per request, half in batches,
//! each round in its own order. Each click must be stored and counted once.

use std::sync::Arc;
use std::time::Duration;

use crate::clicks::ClickKey;
use crate::load::{LoadPlan, Workload};

use super::{Outcome, Scene};

/// Batch size of the senders that send batches.
const BATCH: u32 = 100;
/// Longest the storm may take to send.
const SEND_LIMIT: Duration = Duration::from_secs(900);

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let keys: Vec<ClickKey> = (0..scene.plan.storm_clicks)
        .map(|seq| ClickKey { namespace: 0, seq })
        .collect();
    let senders = scene.plan.storm_senders;
    let rounds = scene.plan.storm_rounds;
    let plan = LoadPlan {
        senders,
        rate: 0,
        workload: Workload::Fixed {
            keys: Arc::new(keys),
            rounds,
            batch_sizes: vec![1, BATCH],
        },
        keep_records: false,
        ..scene.traffic()
    };
    let load = scene.start_load(plan);
    let mut outcome = Outcome {
        tally: load.complete(SEND_LIMIT).await?,
        ..Outcome::default()
    };
    outcome.notes.push(format!(
        "{} clicks sent {rounds} times by each of {senders} senders ({} copies of each)",
        scene.plan.storm_clicks,
        rounds as usize * senders
    ));
    Ok(outcome)
}
