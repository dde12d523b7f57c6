//! Scenarios `single` and `batch`: ingest alone (no worker), as fast as the
//! connections allow. Every accepted click stays in the stream as backlog.

use crate::client::Shape;
use crate::harness::Harness;
use crate::load::{ClosedLoop, Paced, closed_loop, paced};
use crate::report::Row;
use crate::rows::load_row;
use crate::stats::LoadOutcome;

pub async fn single(h: &mut Harness) -> anyhow::Result<Row> {
    single_as(h, "single", "s").await
}

/// The `single` load, reported as `scenario`; `tag` keeps its click ids apart.
pub async fn single_as(h: &mut Harness, scenario: &str, tag: &str) -> anyhow::Result<Row> {
    let load = Load::single(h);
    let outcome = load.send(h, tag, load.plan).await?;
    finish(h, scenario, outcome, load.plan.shape, &load.setup()).await
}

/// What the `single` or the `batch` scenario sends, as fast as it is answered.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub plan: ClosedLoop,
    pub connections: usize,
}

impl Load {
    pub fn single(h: &Harness) -> Self {
        Self {
            plan: ClosedLoop {
                shape: Shape::Single,
                max_requests: h.args.requests,
                warmup: h.args.warmup,
                duration: h.args.duration,
            },
            connections: h.args.concurrency,
        }
    }

    pub fn batch(h: &Harness) -> Self {
        Self {
            plan: ClosedLoop {
                shape: Shape::Batch(h.args.batch_size),
                max_requests: h.args.batches,
                warmup: h.args.warmup,
                duration: h.args.batch_duration,
            },
            connections: h.args.batch_concurrency,
        }
    }

    /// Sends `plan` (this load's, or a slice of it) to `h`'s ingest, with no worker running.
    pub async fn send(
        &self,
        h: &mut Harness,
        tag: &str,
        plan: ClosedLoop,
    ) -> anyhow::Result<LoadOutcome> {
        h.stop_workers().await;
        let senders = h.senders(tag, self.connections)?;
        let before = h.cpu().await;
        let mut outcome = closed_loop(&senders, plan).await?;
        outcome.cpu = Some(h.cpu().await.since(&before));
        Ok(outcome)
    }

    pub fn setup(&self) -> String {
        format!("{} conns, no worker", self.connections)
    }
}

/// Single clicks at a fixed total `rate` for `--duration`, reported as
/// `scenario`: latency at a load the service carries, not at saturation.
pub async fn single_paced_as(
    h: &mut Harness,
    scenario: &str,
    tag: &str,
    rate: u64,
) -> anyhow::Result<Row> {
    h.stop_workers().await;
    let concurrency = h.args.concurrency;
    let plan = Paced {
        shape: Shape::Single,
        rate,
        duration: h.args.duration,
    };
    let outcome = paced(&h.senders(tag, concurrency)?, plan).await?;
    let setup = format!("{rate} req/s paced, {concurrency} conns, no worker");
    finish(h, scenario, outcome, plan.shape, &setup).await
}

pub async fn batch(h: &mut Harness) -> anyhow::Result<Row> {
    let load = Load::batch(h);
    let outcome = load.send(h, "b", load.plan).await?;
    finish(h, "batch", outcome, load.plan.shape, &load.setup()).await
}

/// The row of `outcome`, after checking that every accepted click is in the stream.
pub async fn finish(
    h: &mut Harness,
    scenario: &str,
    outcome: LoadOutcome,
    shape: Shape,
    setup: &str,
) -> anyhow::Result<Row> {
    h.ensure_running()?;
    let tally = &outcome.tally;
    h.backlog += tally.accepted_clicks;
    if tally.non_accepted_total() > 0 || tally.errors > 0 {
        h.problems.push(format!(
            "{scenario}: non-202 answers or errors: {}",
            tally.failures_text()
        ));
    }
    if tally.measured_requests == 0 {
        h.problems
            .push(format!("{scenario}: no request was measured"));
    }
    let mut row = load_row(scenario, &outcome, shape, setup);
    // Before any worker ran, every 202 must be an entry in the stream.
    if h.stopped_workers.is_empty() {
        let stream = h.stream()?;
        let (entries, clicks) = (stream.len().await?, stream.clicks().await?);
        row.notes.push_str(&format!(
            "; stream holds {clicks} clicks in {entries} entries"
        ));
        if clicks < h.backlog {
            h.problems.push(format!(
                "{scenario}: {} clicks were accepted but the stream holds only {clicks}",
                h.backlog
            ));
            row.notes.push_str(&format!(" < {} accepted!", h.backlog));
        }
    }
    Ok(row)
}
