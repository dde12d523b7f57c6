//! One lane of the worker: a consumer of one shard's stream that reads a
//! batch, stores it and acknowledges it, over and over. A worker process
//! runs `WORKER_CONCURRENCY` lanes on every shard.
//!
//! [`Lane::process_once`] is the whole unit of work; the run loop only
//! repeats it. Its parts are public so tests can stop between them the way
//! a crash would:
//!
//! - `read`: the next entries (own pending, claimed, new);
//! - `batch`: decoding them into clicks and entries to set aside;
//! - `store`: committing the clicks, with retries;
//! - `acknowledge`: dead letters, then `XACK`;
//! - `maintenance`: trimming, backlog gauges, forgetting consumers.

mod acknowledge;
mod batch;
mod maintenance;
mod read;
mod store;

pub use batch::Batch;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clickstream::consumer as stream;
use clickstream::{Conn, Redis, StreamNames};
use rand::Rng;
use sea_orm::DatabaseConnection;
use service_runtime::metrics::Metric;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use read::Phase;

/// Batches processed.
pub const WORKER_BATCHES_TOTAL: &str = "worker_batches_total";
/// Time from read to acknowledgement of a batch.
pub const WORKER_BATCH_DURATION_SECONDS: &str = "worker_batch_duration_seconds";
/// Clicks newly stored and counted.
pub const WORKER_CLICKS_INSERTED_TOTAL: &str = "worker_clicks_inserted_total";
/// Clicks already stored (resent, redelivered or repeated in a batch).
pub const WORKER_CLICKS_DUPLICATE_TOTAL: &str = "worker_clicks_duplicate_total";
/// Entries moved to the dead-letter stream.
pub const WORKER_DEAD_LETTERED_TOTAL: &str = "worker_dead_lettered_total";
/// Clicks of the stream not yet delivered to the group (at the last
/// maintenance): entries times the clicks per entry the worker has been reading.
pub const STREAM_LAG: &str = "stream_lag";
/// Clicks delivered to the group and not yet acknowledged (estimated the same way).
pub const STREAM_PENDING: &str = "stream_pending";

/// The worker's own metrics, registered at start.
pub const METRICS: &[Metric] = &[
    Metric::counter(WORKER_BATCHES_TOTAL, "Batches processed."),
    Metric::histogram(
        WORKER_BATCH_DURATION_SECONDS,
        "Time from read to acknowledgement of a batch.",
    ),
    Metric::counter(
        WORKER_CLICKS_INSERTED_TOTAL,
        "Clicks newly stored and counted.",
    ),
    Metric::counter(
        WORKER_CLICKS_DUPLICATE_TOTAL,
        "Clicks already stored (resent, redelivered or repeated in a batch).",
    ),
    Metric::counter(
        WORKER_DEAD_LETTERED_TOTAL,
        "Entries moved to the dead-letter stream.",
    ),
    Metric::gauge(
        STREAM_LAG,
        "Clicks of a stream not yet delivered to the group (entries times the clicks per entry lately read).",
    ),
    Metric::gauge(
        STREAM_PENDING,
        "Clicks delivered to the group and not yet acknowledged (entries times the clicks per entry lately read).",
    ),
];

/// How often it trims acknowledged entries and forgets departed consumers.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(10);
/// How long a Redis command other than the blocking read may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Backoff bounds for MySQL and Redis retries.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a lane reads and how: its stream and consumer names, batch size,
/// block and claim times, and when to give up on an entry.
#[derive(Debug, Clone)]
pub struct LaneOptions {
    pub names: StreamNames,
    pub batch_size: usize,
    pub block: Duration,
    pub claim_idle: Duration,
    pub max_deliveries: u64,
    /// `CLICKS_RETENTION_DAYS`: older clicks are set aside (see [`Batch`]).
    pub retention_days: Option<u32>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to read within the block time.
    Idle,
    /// A batch was committed (or set aside) and acknowledged.
    Processed(BatchReport),
    /// Shutdown was requested before the step finished; what was read stays
    /// pending and is re-read on the next start.
    Stopped,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub entries: usize,
    pub inserted: u64,
    pub duplicates: u64,
    pub dead_lettered: usize,
}

/// Shared with the health endpoint: when the loop last finished a step.
#[derive(Debug, Default)]
pub struct Progress {
    last_step_unix_ms: AtomicI64,
}

impl Progress {
    pub fn touch(&self) {
        self.last_step_unix_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Milliseconds since the last finished step, if any.
    pub fn age_ms(&self) -> Option<i64> {
        let last = self.last_step_unix_ms.load(Ordering::Relaxed);
        (last > 0).then(|| chrono::Utc::now().timestamp_millis() - last)
    }
}

/// One consumer of one shard's stream in the group, with its own
/// connections; a worker process runs several side by side.
pub struct Lane {
    options: LaneOptions,
    redis: Redis,
    /// Blocking reads get a connection of their own.
    reader: Option<Conn>,
    /// Everything else (acks, claims, dead letters, trimming) shares one
    /// multiplexed connection that reconnects by itself. Unlike a pool, it
    /// costs no health-check round trip per use.
    control: Conn,
    db: DatabaseConnection,
    phase: Phase,
    claim_cursor: String,
    next_claim: Instant,
    next_maintenance: Instant,
    shutdown: CancellationToken,
    progress: Arc<Progress>,
    /// Recent clicks per entry (packed entries hold many), so that a read
    /// asks for about `batch_size` clicks' worth of entries.
    clicks_per_entry: f64,
    /// Notified when the lane catches up with its stream (a read shorter
    /// than a batch, or none) after storing clicks: time for a fold.
    caught_up: Option<Arc<Notify>>,
    /// Clicks stored since the lane last asked for a fold.
    unfolded: bool,
}

impl Lane {
    /// Connects to Redis and creates the group (and stream) if missing.
    pub async fn start(
        options: LaneOptions,
        redis: Redis,
        db: DatabaseConnection,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let control = redis.shared(REDIS_TIMEOUT)?;
        let lane = Self {
            options,
            redis,
            reader: None,
            control,
            db,
            phase: Phase::OwnPending("0".to_owned()),
            claim_cursor: "0-0".to_owned(),
            next_claim: Instant::now(),
            next_maintenance: Instant::now() + MAINTENANCE_EVERY,
            shutdown,
            progress: Arc::new(Progress::default()),
            clicks_per_entry: 1.0,
            caught_up: None,
            unfolded: false,
        };
        let mut conn = lane.control.clone();
        stream::ensure_group(&mut conn, &lane.options.names).await?;
        // The backlog gauges from the first scrape on, not the first maintenance.
        if let Err(error) = lane.record_progress().await {
            tracing::warn!(%error, "cannot measure the stream's backlog yet");
        }
        Ok(lane)
    }

    /// Notifies `aggregator` whenever the lane catches up with its stream
    /// after storing clicks (see `crate::aggregator`).
    pub fn notify_when_caught_up(mut self, aggregator: Arc<Notify>) -> Self {
        self.caught_up = Some(aggregator);
        self
    }

    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    pub fn names(&self) -> &StreamNames {
        &self.options.names
    }

    /// Reads, stores and acknowledges one batch.
    #[tracing::instrument(name = "batch", skip_all, fields(entries = tracing::field::Empty, inserted = tracing::field::Empty))]
    pub async fn process_once(&mut self) -> anyhow::Result<Outcome> {
        let Some(mut batch) = self.read_batch().await? else {
            self.caught_up_now();
            self.maintain().await;
            self.progress.touch();
            return Ok(if self.shutdown.is_cancelled() {
                Outcome::Stopped
            } else {
                Outcome::Idle
            });
        };
        tracing::Span::current().record("entries", batch.entries.len());
        let started = Instant::now();
        let Some(stored) = self.store(&mut batch).await? else {
            return Ok(Outcome::Stopped);
        };
        tracing::Span::current().record("inserted", stored.inserted);
        let report = self.acknowledge(&batch, stored).await?;
        self.unfolded |= report.inserted > 0;
        if batch.clicks.len() < self.options.batch_size {
            self.caught_up_now();
        }
        metrics::counter!(WORKER_BATCHES_TOTAL).increment(1);
        metrics::histogram!(WORKER_BATCH_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(WORKER_CLICKS_INSERTED_TOTAL).increment(report.inserted);
        metrics::counter!(WORKER_CLICKS_DUPLICATE_TOTAL).increment(report.duplicates);
        metrics::counter!(WORKER_DEAD_LETTERED_TOTAL).increment(report.dead_lettered as u64);
        self.maintain().await;
        self.progress.touch();
        Ok(Outcome::Processed(report))
    }

    /// The lane has caught up with its stream (a short read, or none): asks
    /// for a fold if it stored clicks since it last asked.
    fn caught_up_now(&mut self) {
        if std::mem::take(&mut self.unfolded)
            && let Some(aggregator) = &self.caught_up
        {
            aggregator.notify_one();
        }
    }

    /// Sleeps unless shutdown comes first; `false` on shutdown.
    async fn pause(&self, delay: Duration) -> bool {
        let jitter = rand::rng().random_range(0..=delay.as_millis() as u64 / 2);
        tokio::select! {
            () = tokio::time::sleep(delay + Duration::from_millis(jitter)) => true,
            () = self.shutdown.cancelled() => false,
        }
    }

    /// Runs until shutdown: the batch in hand is finished first.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut delay = BACKOFF_MIN;
        while !self.shutdown.is_cancelled() {
            match self.process_once().await {
                Ok(Outcome::Processed(report)) => {
                    delay = BACKOFF_MIN;
                    tracing::debug!(?report, "batch done");
                }
                Ok(Outcome::Idle) => delay = BACKOFF_MIN,
                Ok(Outcome::Stopped) => break,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "worker step failed; retrying");
                    self.reader = None;
                    if !self.pause(delay).await {
                        break;
                    }
                    delay = next_delay(delay);
                }
            }
        }
        tracing::info!("worker loop stopped");
        Ok(())
    }
}

fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(BACKOFF_MAX)
}
