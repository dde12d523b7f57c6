//! End-to-end probes: one click every `interval`, then MariaDB is asked
//! every `poll` which of the pending probes are stored. One query serves
//! all pending probes (`click_id IN (…)`), so the polling load stays the same
//! however slow the pipeline is.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

use crate::client::Shape;
use crate::db::BenchDb;
use crate::load::Senders;
use crate::stats::Latencies;

#[derive(Debug, Clone, Copy)]
pub struct ProbePlan {
    pub interval: Duration,
    pub poll: Duration,
    /// A probe not stored after this long is lost.
    pub timeout: Duration,
    /// Probes are sent for this long.
    pub duration: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct ProbeOutcome {
    /// From handing the request to the connection to the first query that saw the row.
    pub latencies: Latencies,
    pub sent: u64,
    pub stored: u64,
    pub lost: u64,
    /// Probes ingest did not answer with 202.
    pub refused: u64,
}

struct Pending {
    click_id: String,
    sent_at: Instant,
}

pub async fn run(senders: &Senders, db: &BenchDb, plan: ProbePlan) -> anyhow::Result<ProbeOutcome> {
    let pending: RefCell<Vec<Pending>> = RefCell::new(Vec::new());
    let done = Cell::new(false);
    let outcome = RefCell::new(ProbeOutcome::default());

    let sending = async {
        let mut sender = senders.sender(0);
        let deadline = Instant::now() + plan.duration;
        let mut ticks = tokio::time::interval(plan.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let result = async {
            while Instant::now() < deadline {
                ticks.tick().await;
                let fired = sender.fire(Shape::Single, false).await?;
                if fired.accepted == 1 {
                    pending.borrow_mut().push(Pending {
                        click_id: sender.last_click_id(),
                        sent_at: fired.sent_at,
                    });
                    outcome.borrow_mut().sent += 1;
                } else {
                    outcome.borrow_mut().refused += 1;
                }
            }
            anyhow::Ok(())
        }
        .await;
        done.set(true);
        result
    };

    let polling = async {
        let mut ticks = tokio::time::interval(plan.poll);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let ids: Vec<String> = pending
                .borrow()
                .iter()
                .map(|p| p.click_id.clone())
                .collect();
            if ids.is_empty() {
                if done.get() {
                    return anyhow::Ok(());
                }
                continue;
            }
            let asked_at = Instant::now();
            let found: HashSet<String> = db.stored(&ids).await?.into_iter().collect();
            let mut outcome = outcome.borrow_mut();
            pending.borrow_mut().retain(|probe| {
                if found.contains(&probe.click_id) {
                    outcome
                        .latencies
                        .record(asked_at.saturating_duration_since(probe.sent_at));
                    outcome.stored += 1;
                    false
                } else if asked_at.saturating_duration_since(probe.sent_at) > plan.timeout {
                    outcome.lost += 1;
                    false
                } else {
                    true
                }
            });
        }
    };

    tokio::try_join!(sending, polling)?;
    Ok(outcome.into_inner())
}
