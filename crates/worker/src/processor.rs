//! One step of the worker: read a batch, store it, acknowledge it.
//!
//! [`Worker::process_once`] is the whole unit of work; the run loop only
//! repeats it. Its parts are public so tests can stop between them the way
//! a crash would.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clickstream::consumer as stream;
use clickstream::{Conn, RawEntry, Redis, StreamNames};
use domain::StreamClick;
use domain::stream_entry::{self, ClickValues, EntryClicks};
use rand::Rng;
use sea_orm::{DatabaseConnection, DbErr};
use service_runtime::metrics::Metric;
use tokio_util::sync::CancellationToken;

use storage::clicks::{self, Stored};
use storage::errors;

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

/// How often the worker looks for entries abandoned by dead consumers.
const CLAIM_EVERY: Duration = Duration::from_secs(5);
/// How often it trims acknowledged entries and forgets departed consumers.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(10);
/// Consumers holding nothing and idle this long are forgotten.
const FORGET_CONSUMERS_AFTER: Duration = Duration::from_secs(3600);
/// How long a Redis command other than the blocking read may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Backoff bounds for MySQL and Redis retries.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub names: StreamNames,
    pub batch_size: usize,
    pub block: Duration,
    pub claim_idle: Duration,
    pub max_deliveries: u64,
    /// `CLICKS_RETENTION_DAYS`: older clicks are set aside (see `sort`).
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

/// Where the next entries come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Re-reading this consumer's own pending entries after the given ID.
    OwnPending(String),
    /// New entries.
    New,
}

/// A batch read from the stream and sorted into clicks and dead letters.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<RawEntry>,
    pub clicks: Vec<StreamClick>,
    /// For each click, the index in `entries` of the entry it came from.
    origins: Vec<usize>,
    /// What is set aside, with the reason: whole entries, or single clicks
    /// of a packed entry (as a one-click entry under the pack's ID).
    pub rejected: Vec<(RawEntry, String)>,
}

impl Batch {
    fn set_aside(&mut self, entry: RawEntry, reason: String) {
        self.rejected.push((entry, reason));
    }

    /// Sets aside one click of entry `origin`: the entry itself when it
    /// holds only this click, else the click alone.
    fn set_aside_click(&mut self, origin: usize, values: &ClickValues, reason: String) {
        let entry = &self.entries[origin];
        let entry = match stream_entry::unpack(&entry.fields) {
            Ok(EntryClicks::Packed(_)) => RawEntry {
                id: entry.id.clone(),
                fields: stream_entry::named(values)
                    .iter()
                    .map(|(field, value)| (field.as_bytes().to_vec(), value.as_bytes().to_vec()))
                    .collect(),
                deliveries: entry.deliveries,
            },
            _ => entry.clone(),
        };
        self.set_aside(entry, reason);
    }
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

pub struct Worker {
    options: WorkerOptions,
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
}

impl Worker {
    /// Connects to Redis and creates the group (and stream) if missing.
    pub async fn start(
        options: WorkerOptions,
        redis: Redis,
        db: DatabaseConnection,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let control = redis.shared(REDIS_TIMEOUT)?;
        let worker = Self {
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
        };
        let mut conn = worker.control.clone();
        stream::ensure_group(&mut conn, &worker.options.names).await?;
        // The backlog gauges from the first scrape on, not the first maintenance.
        if let Err(error) = worker.record_progress().await {
            tracing::warn!(%error, "cannot measure the stream's backlog yet");
        }
        Ok(worker)
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
        metrics::counter!(WORKER_BATCHES_TOTAL).increment(1);
        metrics::histogram!(WORKER_BATCH_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(WORKER_CLICKS_INSERTED_TOTAL).increment(report.inserted);
        metrics::counter!(WORKER_CLICKS_DUPLICATE_TOTAL).increment(report.duplicates);
        metrics::counter!(WORKER_DEAD_LETTERED_TOTAL).increment(report.dead_lettered as u64);
        self.maintain().await;
        self.progress.touch();
        Ok(Outcome::Processed(report))
    }

    /// The next batch: own pending entries first (after a restart), then
    /// entries abandoned by dead consumers when due, then new entries.
    pub async fn read_batch(&mut self) -> anyhow::Result<Option<Batch>> {
        let (mut entries, redelivered) = self.read_entries().await?;
        if entries.is_empty() {
            return Ok(None);
        }
        if redelivered {
            let mut conn = self.control.clone();
            stream::load_delivery_counts(&mut conn, &self.options.names, &mut entries).await?;
        }
        let batch = self.sort(entries);
        let clicks = (batch.clicks.len() + batch.rejected.len()) as f64;
        let observed = clicks / batch.entries.len() as f64;
        self.clicks_per_entry = (self.clicks_per_entry + observed) / 2.0;
        Ok(Some(batch))
    }

    /// Entries to ask for: about `batch_size` clicks' worth at the recent
    /// clicks per entry, at least one. [`store`](Self::store) commits any
    /// overshoot in parts of `batch_size`.
    fn read_count(&self) -> usize {
        let entries = self.options.batch_size as f64 / self.clicks_per_entry.max(1.0);
        (entries.ceil() as usize).clamp(1, self.options.batch_size.max(1))
    }

    /// Entries to process, and whether they may have been delivered before
    /// (then their delivery counts must be looked up).
    async fn read_entries(&mut self) -> anyhow::Result<(Vec<RawEntry>, bool)> {
        let count = self.read_count();
        if let Phase::OwnPending(after) = &self.phase {
            let after = after.clone();
            let mut conn = self.control.clone();
            let entries = self
                .with_group(stream::read_group(
                    &mut conn,
                    &self.options.names,
                    &after,
                    count,
                    None,
                ))
                .await?;
            match entries.last() {
                Some(last) => {
                    self.phase = Phase::OwnPending(last.id.clone());
                    return Ok((entries, true));
                }
                None => self.phase = Phase::New,
            }
        }
        if Instant::now() >= self.next_claim {
            let mut conn = self.control.clone();
            let (claimed, next) = self
                .with_group(stream::autoclaim(
                    &mut conn,
                    &self.options.names,
                    self.options.claim_idle,
                    &self.claim_cursor,
                    count,
                ))
                .await?;
            if next == "0-0" {
                self.next_claim = Instant::now() + CLAIM_EVERY;
            }
            self.claim_cursor = next;
            if !claimed.is_empty() {
                tracing::info!(
                    entries = claimed.len(),
                    "claimed entries left pending by another consumer"
                );
                return Ok((claimed, true));
            }
        }
        Ok((self.read_new(count).await?, false))
    }

    async fn read_new(&mut self, count: usize) -> anyhow::Result<Vec<RawEntry>> {
        let block = self.options.block;
        let reader = match self.reader.take() {
            Some(reader) => reader,
            None => self.redis.dedicated(block + REDIS_TIMEOUT).await?,
        };
        let mut conn = reader;
        let names = self.options.names.clone();
        let read = tokio::select! {
            read = stream::read_group(&mut conn, &names, ">", count, Some(block)) => read,
            () = self.shutdown.cancelled() => return Ok(Vec::new()),
        };
        match read {
            Ok(entries) => {
                self.reader = Some(conn);
                Ok(entries)
            }
            Err(error) if stream::is_missing_group(&error) => {
                self.reader = Some(conn);
                self.recreate_group().await?;
                Ok(Vec::new())
            }
            // The connection is dropped; the next read opens a fresh one.
            Err(error) => Err(error.into()),
        }
    }

    async fn with_group<T>(
        &self,
        call: impl Future<Output = clickstream::RedisResult<T>>,
    ) -> anyhow::Result<T> {
        match call.await {
            Err(error) if stream::is_missing_group(&error) => {
                self.recreate_group().await?;
                Err(error.into())
            }
            other => Ok(other?),
        }
    }

    async fn recreate_group(&self) -> anyhow::Result<()> {
        tracing::warn!(stream = %self.options.names.stream, "consumer group missing; creating it again");
        let mut conn = self.control.clone();
        stream::ensure_group(&mut conn, &self.options.names).await?;
        Ok(())
    }

    /// Decodes each entry's clicks; undecodable or over-delivered entries
    /// are set aside, and so are undecodable clicks of a pack and clicks of
    /// dates retention may have deleted (one day before the first date
    /// ingest accepts): storing one could count it twice.
    fn sort(&self, entries: Vec<RawEntry>) -> Batch {
        let mut batch = Batch {
            clicks: Vec::with_capacity(entries.len()),
            entries,
            ..Batch::default()
        };
        let oldest = self.options.retention_days.map(|days| {
            let first = domain::click::retention_first_kept(chrono::Utc::now().date_naive(), days);
            first.pred_opt().unwrap_or(first)
        });
        for index in 0..batch.entries.len() {
            let entry = &batch.entries[index];
            if entry.deliveries > self.options.max_deliveries {
                let reason = format!(
                    "delivered {} times without being acknowledged",
                    entry.deliveries
                );
                batch.set_aside(entry.clone(), reason);
                continue;
            }
            let decoded: Vec<(Result<StreamClick, _>, Option<ClickValues>)> =
                match stream_entry::unpack(&entry.fields) {
                    Ok(EntryClicks::One) => vec![(StreamClick::decode(&entry.fields), None)],
                    Ok(EntryClicks::Packed(clicks)) => clicks
                        .into_iter()
                        .map(|values| (StreamClick::decode_values(&values), Some(values)))
                        .collect(),
                    Err(error) => {
                        batch.set_aside(entry.clone(), format!("undecodable entry: {error}"));
                        continue;
                    }
                };
            for (click, values) in decoded {
                let reason = match click {
                    Ok(click) if oldest.is_some_and(|oldest| click.click.date() < oldest) => {
                        format!(
                            "dated {}, older than CLICKS_RETENTION_DAYS keeps",
                            click.click.date()
                        )
                    }
                    Ok(click) => {
                        batch.clicks.push(click);
                        batch.origins.push(index);
                        continue;
                    }
                    Err(error) => format!("undecodable entry: {error}"),
                };
                match values {
                    Some(values) => batch.set_aside_click(index, &values, reason),
                    None => batch.set_aside(batch.entries[index].clone(), reason),
                }
            }
        }
        batch
    }

    /// Commits the batch's clicks, at most `batch_size` per transaction,
    /// retrying transient failures with backoff. `None` when shutdown
    /// interrupted the retries (nothing acknowledged). A read of packed
    /// entries can hold more than `batch_size` clicks; every part is
    /// committed before any entry is acknowledged, and a part committed
    /// before a crash is absorbed by exactly-once storage when redelivered.
    pub async fn store(&mut self, batch: &mut Batch) -> anyhow::Result<Option<Stored>> {
        let mut total = Stored::default();
        let size = self.options.batch_size.max(1);
        let mut start = 0;
        while start < batch.clicks.len() {
            let part = start..(start + size).min(batch.clicks.len());
            let clicks: Vec<&StreamClick> = batch.clicks[part.clone()].iter().collect();
            let stored = match self.store_with_retry(&clicks).await {
                Ok(stored) => stored,
                Err(error) => {
                    // MySQL refused some click's data. Store the clicks one by
                    // one so only the culprits are set aside.
                    tracing::error!(%error, "batch refused; storing its clicks one at a time");
                    self.store_one_by_one(batch, part.clone()).await?
                }
            };
            let Some(stored) = stored else {
                return Ok(None);
            };
            total.inserted += stored.inserted;
            total.duplicates += stored.duplicates;
            start = part.end;
        }
        Ok(Some(total))
    }

    /// Retries every failure except MySQL refusing the data itself, which
    /// comes back as `Err`. Anything else — deadlocks, lost connections, but
    /// also a missing table or revoked grant — is retried with backoff and
    /// nothing is acknowledged meanwhile: clicks must not be dead-lettered
    /// because the database is misconfigured. `Ok(None)` on shutdown.
    async fn store_with_retry(&self, clicks: &[&StreamClick]) -> Result<Option<Stored>, DbErr> {
        let mut delay = BACKOFF_MIN;
        loop {
            match clicks::store_batch(&self.db, clicks).await {
                Ok(stored) => return Ok(Some(stored)),
                Err(error) if errors::is_data_error(&error) => return Err(error),
                Err(error) => {
                    let retry_in_ms = delay.as_millis() as u64;
                    if errors::is_transient(&error) {
                        tracing::warn!(%error, retry_in_ms, "transient MySQL error; retrying the batch");
                    } else {
                        tracing::error!(%error, retry_in_ms, "MySQL error; retrying the batch");
                    }
                    if !self.pause(delay).await {
                        return Ok(None);
                    }
                    delay = next_delay(delay);
                }
            }
        }
    }

    async fn store_one_by_one(
        &mut self,
        batch: &mut Batch,
        part: std::ops::Range<usize>,
    ) -> anyhow::Result<Option<Stored>> {
        let mut total = Stored::default();
        for index in part {
            let click = &batch.clicks[index];
            match self.store_with_retry(&[click]).await {
                Ok(Some(stored)) => {
                    total.inserted += stored.inserted;
                    total.duplicates += stored.duplicates;
                }
                Ok(None) => return Ok(None),
                Err(error) => {
                    let values = click.values();
                    let origin = batch.origins[index];
                    batch.set_aside_click(origin, &values, format!("rejected by MySQL: {error}"));
                }
            }
        }
        Ok(Some(total))
    }

    /// Moves set-aside entries to the dead-letter stream, then acknowledges
    /// the whole batch. Retries Redis errors; entries it cannot acknowledge
    /// stay pending and are re-read later, which stores nothing twice.
    pub async fn acknowledge(
        &mut self,
        batch: &Batch,
        stored: Stored,
    ) -> anyhow::Result<BatchReport> {
        let dead: Vec<(&RawEntry, String)> = batch
            .rejected
            .iter()
            .map(|(entry, reason)| (entry, reason.clone()))
            .collect();
        for (entry, reason) in &dead {
            tracing::warn!(entry_id = %entry.id, %reason, "entry moved to the dead-letter stream");
        }
        let ids: Vec<&str> = batch.entries.iter().map(|e| e.id.as_str()).collect();
        let mut delay = BACKOFF_MIN;
        loop {
            let attempt = async {
                let mut conn = self.control.clone();
                stream::dead_letter(&mut conn, &self.options.names, &dead).await?;
                stream::ack(&mut conn, &self.options.names, &ids).await?;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot acknowledge the batch yet; retrying");
                    if !self.pause(delay).await {
                        anyhow::bail!("shutdown before the batch was acknowledged: {error}");
                    }
                    delay = next_delay(delay);
                }
            }
        }
        Ok(BatchReport {
            entries: batch.entries.len(),
            inserted: stored.inserted,
            duplicates: stored.duplicates,
            dead_lettered: dead.len(),
        })
    }

    /// Trims what every group has acknowledged and forgets departed consumers.
    async fn maintain(&mut self) {
        if Instant::now() < self.next_maintenance {
            return;
        }
        self.next_maintenance = Instant::now() + MAINTENANCE_EVERY;
        if let Err(error) = self.try_maintain().await {
            tracing::warn!(%error, "stream maintenance failed; will try again");
        }
    }

    async fn try_maintain(&self) -> anyhow::Result<()> {
        self.trim_acknowledged().await?;
        self.record_progress().await?;
        let mut conn = self.control.clone();
        stream::forget_idle_consumers(&mut conn, &self.options.names, FORGET_CONSUMERS_AFTER)
            .await?;
        Ok(())
    }

    /// Sets the `stream_lag` and `stream_pending` gauges of this shard, in clicks.
    async fn record_progress(&self) -> anyhow::Result<()> {
        let mut conn = self.control.clone();
        if let Some((lag, pending)) = stream::group_progress(&mut conn, &self.options.names).await?
        {
            let stream = self.options.names.stream.clone();
            let clicks = |entries: u64| (entries as f64 * self.clicks_per_entry).round();
            if let Some(lag) = lag {
                metrics::gauge!(STREAM_LAG, "stream" => stream.clone()).set(clicks(lag));
            }
            metrics::gauge!(STREAM_PENDING, "stream" => stream).set(clicks(pending));
        }
        Ok(())
    }

    /// Trims the entries every group has acknowledged; returns how many went.
    pub async fn trim_acknowledged(&self) -> anyhow::Result<u64> {
        let mut conn = self.control.clone();
        let stream = &self.options.names.stream;
        let Some(point) = stream::safe_trim_point(&mut conn, stream).await? else {
            return Ok(0);
        };
        let trimmed = stream::trim_below(&mut conn, stream, &point).await?;
        if trimmed > 0 {
            tracing::debug!(trimmed, below = %point, "trimmed acknowledged entries");
        }
        Ok(trimmed)
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
