//! The aggregator: one task per worker process that folds the deltas stored
//! batches leave into the aggregate tables (see `storage::aggregates`).
//!
//! It folds when a lane catches up with its stream (so a quiet deployment's
//! reports follow each batch within [`MIN_GAP`]), and at least every
//! `AGGREGATES_FOLD_INTERVAL_MS` while lanes are busy, so under load one fold
//! adds many batches and touches each hot aggregate row once. Folds of
//! several processes take disjoint deltas. A fold that fails leaves its
//! deltas for the next; on shutdown, after the lanes have stopped, it folds
//! what is left, and what it cannot is folded by the next worker to start.

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
/// Deltas stored and not yet folded, after this process's last fold.
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
        "Stored batches whose counts are not yet in the aggregate tables (after the last fold).",
    ),
];

/// Shortest time between two folds: a lane that catches up right after a
/// fold waits this long, so a trickle of small batches is folded in sets.
pub const MIN_GAP: Duration = Duration::from_millis(100);
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
        loop {
            let folded_at = Instant::now();
            self.fold().await;
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
                () = self.wake.notified() => {
                    tokio::select! {
                        () = self.stop.cancelled() => break,
                        () = tokio::time::sleep_until((folded_at + MIN_GAP).into()) => {}
                    }
                }
            }
        }
        match tokio::time::timeout(FINAL_FOLD_LIMIT, self.fold()).await {
            Ok(()) => tracing::info!("aggregator stopped"),
            Err(_) => tracing::warn!(
                "aggregator stopped before folding everything; the next worker folds the rest"
            ),
        }
    }

    /// Folds every delta no other fold holds; a failure is logged and left
    /// for the next round.
    async fn fold(&self) {
        loop {
            let started = Instant::now();
            match aggregates::fold_pending(&self.db, aggregates::MAX_DELTAS_PER_FOLD).await {
                Ok(Folded { deltas: 0, .. }) => break,
                Ok(folded) => {
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
                    return;
                }
            }
        }
        match aggregates::pending_deltas(&self.db).await {
            Ok(pending) => metrics::gauge!(AGGREGATE_PENDING_DELTAS).set(pending as f64),
            Err(error) => tracing::debug!(%error, "cannot count the pending deltas"),
        }
    }
}
