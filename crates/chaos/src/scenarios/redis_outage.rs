//! Scenario 4: Redis killed under load (its AOF has `appendfsync always`, so what it
//! acknowledged survives), then started again on the same port. While it is
//! down ingest must answer 503 and never 2xx; afterwards it must recover by
//! itself, and so must the workers.

use std::time::{Duration, Instant};

use crate::ledger::Answer;

use super::{Outcome, Scene};

/// Redis dies within this of SIGKILL; requests sent earlier may still have
/// been enqueued, and answered 2xx, legitimately.
const DYING: Duration = Duration::from_millis(100);

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let (before, after) = scene.plan.outage_margin;
    scene.hold(before).await?;

    scene.cluster.redis.kill();
    let down_from = load.started().elapsed() + DYING;
    scene.hold(scene.plan.redis_down).await?;
    let down_until = load.started().elapsed();
    scene.cluster.redis.restart().await;
    let lifted = Instant::now();

    let mut outcome = Outcome::default();
    outcome
        .recoveries
        .push(scene.recovery(&load, lifted).await?);
    scene.hold(after).await?;
    outcome.tally = load.stop().await?;

    // Requests sent after Redis died and answered before it was back.
    let during: Vec<Answer> = outcome
        .tally
        .records
        .iter()
        .filter(|record| record.sent >= down_from && record.answered <= down_until)
        .map(|record| record.answer)
        .collect();
    let ok = during
        .iter()
        .filter(|answer| matches!(answer, Answer::Status(status) if (200..300).contains(status)))
        .count();
    let unavailable = during
        .iter()
        .filter(|answer| **answer == Answer::Status(503))
        .count();
    let unanswered = during
        .iter()
        .filter(|answer| **answer == Answer::None)
        .count();
    if ok > 0 {
        outcome
            .failures
            .push(format!("{ok} request(s) answered 2xx while Redis was down"));
    }
    if unavailable == 0 {
        outcome
            .failures
            .push("no request was answered 503 while Redis was down".to_owned());
    }
    outcome.notes.push(format!(
        "Redis down {:.0} s: {} requests ended meanwhile: {unavailable} answered 503, {unanswered} not answered, {ok} answered 2xx",
        scene.plan.redis_down.as_secs_f64(),
        during.len()
    ));
    Ok(outcome)
}
