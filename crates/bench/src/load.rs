//! Load shapes built on [`Sender`]: as fast as possible (closed loop) and at
//! a fixed rate (paced). (A backlog for the workers is appended through
//! clickstream instead: see `stream.rs`.)
//!
//! Every shape is bounded in count and in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::client::{Sender, Shape};
use crate::conn::Target;
use crate::payload::{ClickGen, Ids};
use crate::stats::{LoadOutcome, Tally};

/// Who sends: names the clicks and bounds each request.
#[derive(Debug, Clone)]
pub struct Senders {
    pub target: Arc<Target>,
    pub run_id: String,
    /// Part of every `click_id`, so scenarios never collide.
    pub tag: String,
    pub connections: usize,
    pub request_timeout: Duration,
    pub ids: Ids,
}

impl Senders {
    pub fn sender(&self, index: usize) -> Sender {
        Sender::new(
            Arc::clone(&self.target),
            ClickGen::new(&self.run_id, &self.tag, index).with_ids(self.ids),
            self.request_timeout,
        )
    }
}

/// Every connection sends its next request as soon as the last one is answered.
#[derive(Debug, Clone, Copy)]
pub struct ClosedLoop {
    pub shape: Shape,
    /// Most measured requests, all connections together.
    pub max_requests: u64,
    pub warmup: Duration,
    /// Longest measured time, after the warm-up.
    pub duration: Duration,
}

pub async fn closed_loop(senders: &Senders, plan: ClosedLoop) -> anyhow::Result<LoadOutcome> {
    let start = Instant::now();
    let warm_end = start + plan.warmup;
    let deadline = warm_end + plan.duration;
    let claimed = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for index in 0..senders.connections.max(1) {
        let mut sender = senders.sender(index);
        let claimed = Arc::clone(&claimed);
        tasks.spawn(async move {
            let mut failure = None;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let measured = now >= warm_end;
                if measured && claimed.fetch_add(1, Ordering::Relaxed) >= plan.max_requests {
                    break;
                }
                if let Err(error) = sender.fire(plan.shape, measured).await {
                    failure = Some(error);
                    break;
                }
            }
            (sender.tally, Instant::now(), failure)
        });
    }
    let (tally, last) = gather(tasks).await?;
    Ok(LoadOutcome {
        tally,
        measured: last.saturating_duration_since(warm_end),
        cpu: None,
    })
}

/// All connections together send `rate` requests per second for `duration`.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    pub shape: Shape,
    pub rate: u64,
    pub duration: Duration,
}

pub async fn paced(senders: &Senders, plan: Paced) -> anyhow::Result<LoadOutcome> {
    if plan.rate == 0 {
        bail!("a paced load needs a rate above 0");
    }
    let connections = senders.connections.max(1);
    // Each connection sends every `period`; their ticks are staggered.
    let period = Duration::from_secs_f64(connections as f64 / plan.rate as f64);
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut tasks = JoinSet::new();
    for index in 0..connections {
        let mut sender = senders.sender(index);
        let first = start + period.mul_f64(index as f64 / connections as f64);
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval_at(first.into(), period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut failure = None;
            loop {
                ticks.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                if let Err(error) = sender.fire(plan.shape, true).await {
                    failure = Some(error);
                    break;
                }
            }
            (sender.tally, Instant::now(), failure)
        });
    }
    let (tally, last) = gather(tasks).await?;
    Ok(LoadOutcome {
        tally,
        measured: last.saturating_duration_since(start),
        cpu: None,
    })
}

type SenderResult = (Tally, Instant, Option<anyhow::Error>);

/// Merges the senders' tallies; fails only when no sender could work at all.
async fn gather(mut tasks: JoinSet<SenderResult>) -> anyhow::Result<(Tally, Instant)> {
    let mut total = Tally::default();
    let mut last = Instant::now();
    let mut first_failure = None;
    let mut failed = 0usize;
    let mut senders = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let (tally, finished, failure) = joined?;
        senders += 1;
        total.merge(&tally);
        last = last.max(finished);
        if let Some(error) = failure {
            failed += 1;
            first_failure.get_or_insert(error);
        }
    }
    if let Some(error) = first_failure {
        if failed == senders && total.sent_requests == 0 {
            return Err(error);
        }
        eprintln!("clicks-bench: {failed} of {senders} connections gave up: {error:#}");
    }
    Ok((total, last))
}
