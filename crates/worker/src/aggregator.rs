//! The aggregator: one task per worker process that folds the deltas stored
//! batches leave into the aggregate tables (see `storage::aggregates`).
//!
//! While it finds deltas it folds every `AGGREGATES_FOLD_INTERVAL_MS` (100
//! ms by default), so under load one fold adds all the batches of that time
//! and touches each hot aggregate row once; a fold that takes longer than
//! the interval simply takes more deltas next time. With nothing to fold it
//! waits for a lane to catch up with its stream after storing (then folds
//! within [`MIN_GAP`] of the last fold), or [`IDLE_POLL`] (the interval, if
//! longer). Folds of several processes take disjoint deltas. A fold that
//! fails leaves its deltas for a later round, after a backoff that doubles
//! up to [`MAX_BACKOFF`]; on shutdown, after the lanes have
//! stopped, it folds what is left, and what it cannot is folded by the next
//! worker to start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use service_runtime::metrics::Metric;
use storage::aggregates::{self, Folded};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Folds done (each one transaction).
pub const WORKER_AGGREGATE_FOLDS_TOTAL: &str = "worker_aggregate_folds_total";
/// Clicks added to the aggregates by folds.
pub const WORKER_AGGREGATE_FOLDED_CLICKS_TOTAL: &str = "worker_aggregate_folded_clicks_total";
/// Time one fold takes.
pub const WORKER_AGGREGATE_FOLD_DURATION_SECONDS: &str = "worker_aggregate_fold_duration_seconds";
/// Deltas waiting to be folded: 0 after a round that took all it could,
/// counted after a failed one.
pub const AGGREGATE_PENDING_DELTAS: &str = "aggregate_pending_deltas";

pub const METRICS: &[Metric] = &[
    Metric::counter(
        WORKER_AGGREGATE_FOLDS_TOTAL,
        "Folds of stored batches' counts into the aggregate tables.",
    ),
    Metric::counter(
        WORKER_AGGREGATE_FOLDED_CLICKS_TOTAL,
        "Clicks added to the aggregate tables by folds.",
    ),
    Metric::histogram(
        WORKER_AGGREGATE_FOLD_DURATION_SECONDS,
        "Time one fold takes.",
    ),
    Metric::gauge(
        AGGREGATE_PENDING_DELTAS,
        "Stored batches whose counts wait to be folded into the aggregate tables (0 after a round of folds that took all it could; counted after a failed one).",
    ),
];

/// Shortest time between two folds: a lane that catches up right after a
/// fold waits this long, so a trickle of small batches is folded in sets.
pub const MIN_GAP: Duration = Duration::from_millis(100);
/// How often, at least, an aggregator with nothing to fold looks again
/// unasked (or every interval, when that is longer): for deltas another
/// process stored and could not fold before it stopped.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Longest wait after failed folds (the wait doubles from the interval).
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the fold on shutdown may take.
const FINAL_FOLD_LIMIT: Duration = Duration::from_secs(10);

pub struct Aggregator {
    db: DatabaseConnection,
    interval: Duration,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

impl Aggregator {
    pub fn new(db: DatabaseConnection, interval: Duration) -> Self {
        Self {
            db,
            interval,
            wake: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
        }
    }

    /// What lanes notify when they catch up with their stream.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Cancelled once the lanes have stopped: the aggregator then folds what
    /// is left and returns.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub async fn run(self) {
        let mut failures = 0;
        loop {
            let folded_at = Instant::now();
            // Folded something: again after the interval, while lanes keep
            // storing. Nothing: until a lane catches up, or the idle poll
            // (deltas a stopped process left). Failed: back off.
            let round = self.fold().await;
            failures = if round == Round::Failed {
                failures + 1
            } else {
                0
            };
            let wait = match round {
                Round::Folded => self.interval,
                Round::Empty => self.interval.max(IDLE_POLL),
                Round::Failed => (self.interval * 2u32.saturating_pow(failures)).min(MAX_BACKOFF),
            };
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {
                    tokio::select! {
                        () = self.stop.cancelled() => break,
                        () = tokio::time::sleep_until((folded_at + MIN_GAP).into()) => {}
                    }
                }
            }
        }
        match tokio::time::timeout(FINAL_FOLD_LIMIT, self.fold()).await {
            Ok(_) => tracing::info!("aggregator stopped"),
            Err(_) => tracing::warn!(
                "aggregator stopped before folding everything; the next worker folds the rest"
            ),
        }
    }

    /// Folds every delta no other fold holds. A failure is logged and left
    /// for a later round; only then are the waiting deltas counted for the
    /// gauge (after a round that took all it could, none are waiting).
    async fn fold(&self) -> Round {
        let mut round = Round::Empty;
        loop {
            let started = Instant::now();
            let folded = aggregates::fold_pending(
                &self.db,
                aggregates::MAX_DELTAS_PER_FOLD,
                aggregates::MAX_CLICKS_PER_FOLD,
            )
            .await;
            match folded {
                Ok(Folded { deltas: 0, .. }) => break,
                Ok(folded) => {
                    round = Round::Folded;
                    metrics::counter!(WORKER_AGGREGATE_FOLDS_TOTAL).increment(1);
                    metrics::counter!(WORKER_AGGREGATE_FOLDED_CLICKS_TOTAL)
                        .increment(folded.clicks);
                    metrics::histogram!(WORKER_AGGREGATE_FOLD_DURATION_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    tracing::debug!(?folded, "aggregates folded");
                    if !folded.more {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot fold into the aggregates now; retrying later");
                    match aggregates::pending_deltas(&self.db).await {
                        Ok(pending) => {
                            metrics::gauge!(AGGREGATE_PENDING_DELTAS).set(pending as f64);
                        }
                        Err(error) => tracing::debug!(%error, "cannot count the waiting deltas"),
                    }
                    return Round::Failed;
                }
            }
        }
        metrics::gauge!(AGGREGATE_PENDING_DELTAS).set(0.0);
        round
    }
}

/// What one round of folds did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Nothing was waiting (that another process was not folding).
    Empty,
    /// Folded everything it could take.
    Folded,
    /// A fold failed; what it held waits for a later round.
    Failed,
}
