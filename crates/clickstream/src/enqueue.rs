//! Appending clicks to the stream, many requests per round trip.
//!
//! Every click goes to the shard its `offer_id` routes to, decided once when
//! its [`Entry`] is made. The clicks of one shard written together go into
//! packed stream entries of up to `PACK_MAX_CLICKS` clicks (fields `clicks`
//! and `click_count`, see `domain::stream_entry`); a click alone is written
//! in the one-click form. Packing makes Redis, and each replica, do its
//! per-command work once per pack instead of once per click; compressing
//! packs of `COMPRESS_MIN_CLICKS` or more (`clicks_lz4`, unless the limits
//! say [`PackCompression::None`]) cuts the bytes each of them receives and
//! keeps. Entries are
//! never trimmed here: only the worker trims, and only below what its group
//! has acknowledged.
//!
//! Requests do not talk to Redis themselves. They hand their entries to the
//! [`Enqueuer`] and wait for its answer. One collector task takes whatever has
//! queued up — a request's worth when the service is idle, thousands under
//! load — and writes it as one pipeline per shard (a pipeline touches one
//! slot, so a cluster runs each on one master), the shards side by side. Each
//! request is answered only when every pipeline holding its own entries has
//! been acknowledged by Redis.
//!
//! With `min_replicas` > 0 each pipeline ends with `WAIT <n> <timeout>` on the
//! same connection to the same master: the request is acknowledged only when
//! at least n replicas hold its entries. Fewer is an error like any other
//! (the caller answers 503); the entries already written stay, and a resend
//! is absorbed by the worker's exactly-once storage.
//!
//! A collection is sent when the one before it has been answered, so the
//! requests that arrive meanwhile travel together (a group commit): under
//! load every Redis node, and each of its replicas, wakes once per
//! collection instead of once per request, and an idle service still sends
//! a lone request at once. Only when Redis takes longer than
//! `overlap_after` ([`OVERLAP_AFTER`] in ingest) to answer does the next
//! collection go out beside it.
//!
//! Memory stays bounded: the hand-off channel holds a fixed number of
//! requests, a collection carries at most `ENQUEUE_MAX_PIPELINE` clicks, and
//! at most `ENQUEUE_MAX_IN_FLIGHT` collections are outstanding.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::StreamClick;
use domain::stream_entry::{self, ClickValues, PACK_MAX_CLICKS, PackCompression};
use redis::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Conn;
use crate::layout::{Layout, SlotPipeline};

/// Time for Redis to acknowledge one pipeline.
pub const ENQUEUE_DURATION_SECONDS: &str = "enqueue_duration_seconds";
/// Clicks per collection (written as one pipeline per shard).
pub const ENQUEUE_PIPELINE_ENTRIES: &str = "enqueue_pipeline_entries";

/// One click on its way to the stream: its shard and its encoded values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    shard: usize,
    values: ClickValues,
}

impl Entry {
    /// The entry of `click` on the shard of `layout` its offer routes to.
    pub fn new(layout: &Layout, click: &StreamClick) -> Self {
        Self {
            shard: layout.shard_of(click.click.offer_id.get()),
            values: click.values(),
        }
    }

    pub fn shard(&self) -> usize {
        self.shard
    }
}

/// Requests waiting for the collector at most; senders wait beyond that.
const HANDOFF_CAPACITY: usize = 4096;

/// How long ingest lets the next collection wait for the one before it to
/// be answered before it goes out beside it (up to `ENQUEUE_MAX_IN_FLIGHT`).
/// Redis answers in well under a millisecond when it is healthy; a slot
/// that is failing over holds up the others for no longer than this.
pub const OVERLAP_AFTER: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, thiserror::Error)]
pub enum EnqueueError {
    #[error("redis did not acknowledge the entries: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{acknowledged} of the {wanted} replicas required acknowledged the entries")]
    NotReplicated { acknowledged: u64, wanted: u32 },
    #[error("the enqueuer has stopped")]
    Stopped,
}

struct Job {
    entries: Vec<Entry>,
    done: oneshot::Sender<Result<(), EnqueueError>>,
}

/// Hands entries to the collector; cheap to clone, one per HTTP worker.
#[derive(Clone)]
pub struct Enqueuer {
    jobs: mpsc::Sender<Job>,
    pack_ratio: PackRatio,
}

/// Clicks per stream entry in what this enqueuer wrote lately: 1 when
/// requests come one at a time, up to `PACK_MAX_CLICKS` under load. The
/// backlog is measured in entries; this turns it into clicks.
#[derive(Debug, Clone)]
pub struct PackRatio(Arc<AtomicU64>);

impl Default for PackRatio {
    fn default() -> Self {
        Self(Arc::new(AtomicU64::new(1.0_f64.to_bits())))
    }
}

impl PackRatio {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Moves the average a quarter of the way towards this collection's ratio.
    fn record(&self, clicks: usize, entries: usize) {
        if entries == 0 {
            return;
        }
        let observed = clicks as f64 / entries as f64;
        let average = self.get() * 0.75 + observed * 0.25;
        self.0.store(average.max(1.0).to_bits(), Ordering::Relaxed);
    }
}

pub struct EnqueuerLimits {
    pub max_pipeline: usize,
    pub max_in_flight: usize,
    /// How long a collection may take, replication included.
    pub timeout: Duration,
    /// Replicas that must hold the entries before they count as written (0: the master's word is enough).
    pub min_replicas: u32,
    /// `WAIT`'s own timeout; below `timeout`.
    pub replica_timeout: Duration,
    /// How long a collection waits for the previous one's answer before it
    /// goes out beside it ([`OVERLAP_AFTER`] in ingest).
    pub overlap_after: Duration,
    /// Whether packs of many clicks are compressed (`CLICKS_PACK_COMPRESSION`).
    pub pack_compression: PackCompression,
}

impl Enqueuer {
    /// Starts the collector on the current Tokio runtime. It stops when every
    /// `Enqueuer` clone is dropped, after answering what it has taken.
    pub fn start(redis: Conn, layout: &Layout, limits: EnqueuerLimits) -> (Self, JoinHandle<()>) {
        let (jobs, receiver) = mpsc::channel(HANDOFF_CAPACITY);
        let pack_ratio = PackRatio::default();
        let collector = Collector {
            redis,
            stream_keys: layout.streams().into(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            pack_ratio: pack_ratio.clone(),
        };
        let enqueuer = Self { jobs, pack_ratio };
        (enqueuer, tokio::spawn(collector.run(receiver)))
    }

    /// Clicks per entry lately, shared with whoever measures the backlog.
    pub fn pack_ratio(&self) -> PackRatio {
        self.pack_ratio.clone()
    }

    /// Appends `entries` to the stream; `Ok` only once Redis has acknowledged all of them.
    pub async fn enqueue(&self, entries: Vec<Entry>) -> Result<(), EnqueueError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { entries, done })
            .await
            .map_err(|_| EnqueueError::Stopped)?;
        answer.await.unwrap_or(Err(EnqueueError::Stopped))
    }
}

struct Collector {
    redis: Conn,
    stream_keys: Arc<[String]>,
    in_flight: Arc<Semaphore>,
    limits: EnqueuerLimits,
    pack_ratio: PackRatio,
}

impl Collector {
    async fn run(self, mut receiver: mpsc::Receiver<Job>) {
        let mut pipelines = tokio::task::JoinSet::new();
        let mut previous: Option<oneshot::Receiver<()>> = None;
        while let Some(first) = receiver.recv().await {
            // Waiting for the previous collection, then for a slot, lets more
            // requests queue up behind `first`, so the next pipeline is
            // fuller exactly when Redis is busy.
            if let Some(previous) = previous.take() {
                let _ = tokio::time::timeout(self.limits.overlap_after, previous).await;
            }
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            let mut size = first.entries.len();
            let mut jobs = vec![first];
            while size < self.limits.max_pipeline {
                match receiver.try_recv() {
                    Ok(job) => {
                        size += job.entries.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let redis = self.redis.clone();
            let keys = Arc::clone(&self.stream_keys);
            let limits = Replication::of(&self.limits);
            let pack_ratio = self.pack_ratio.clone();
            let compression = self.limits.pack_compression;
            let (answered, answer) = oneshot::channel();
            previous = Some(answer);
            pipelines.spawn(async move {
                let pipelines =
                    shard_pipelines(&keys, jobs.iter().flat_map(|job| &job.entries), compression);
                write_collection(redis, &keys, pipelines, jobs, size, limits, &pack_ratio).await;
                drop(permit);
                let _ = answered.send(());
            });
            while pipelines.try_join_next().is_some() {}
        }
        while pipelines.join_next().await.is_some() {}
    }
}

/// What a collection waits for.
#[derive(Clone, Copy)]
struct Replication {
    timeout: Duration,
    min_replicas: u32,
    replica_timeout: Duration,
}

impl Replication {
    fn of(limits: &EnqueuerLimits) -> Self {
        Self {
            timeout: limits.timeout,
            min_replicas: limits.min_replicas,
            replica_timeout: limits.replica_timeout,
        }
    }
}

/// Writes the jobs' entries (`pipelines`, one per shard), and answers each
/// job with the outcome of the shards its own entries went to.
#[tracing::instrument(name = "enqueue_pipeline", skip_all, fields(requests = jobs.len(), entries = size))]
async fn write_collection(
    redis: Conn,
    keys: &[String],
    mut pipelines: Vec<(SlotPipeline, usize)>,
    jobs: Vec<Job>,
    size: usize,
    replication: Replication,
    pack_ratio: &PackRatio,
) {
    pack_ratio.record(size, pipelines.iter().map(|(_, xadds)| xadds).sum());
    let started = std::time::Instant::now();
    let writes = pipelines.iter_mut().map(|(pipe, count)| {
        let mut redis = redis.clone();
        let count = *count;
        async move {
            if pipe.is_empty() {
                return Ok(());
            }
            if replication.min_replicas > 0 {
                pipe.keyless("WAIT")
                    .arg(replication.min_replicas)
                    .arg(replication.replica_timeout.as_millis() as u64);
            }
            write_pipeline(&mut redis, pipe, count, replication).await
        }
    });
    let results = futures_util::future::join_all(writes).await;
    metrics::histogram!(ENQUEUE_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::histogram!(ENQUEUE_PIPELINE_ENTRIES).record(size as f64);
    for (shard, result) in results.iter().enumerate() {
        if let Err(error) = result {
            tracing::warn!(%error, stream = %keys[shard], "enqueue failed; the requests are answered 503");
        }
    }
    for job in jobs {
        let outcome = job
            .entries
            .iter()
            .find_map(|entry| results[entry.shard].clone().err())
            .map_or(Ok(()), Err);
        // A caller that went away no longer needs the answer.
        let _ = job.done.send(outcome);
    }
}

/// One pipeline of `XADD`s per shard, with the number of `XADD`s in each:
/// a shard's clicks in packs of up to `PACK_MAX_CLICKS`, in the order given.
fn shard_pipelines<'a>(
    keys: &[String],
    entries: impl Iterator<Item = &'a Entry>,
    compression: PackCompression,
) -> Vec<(SlotPipeline, usize)> {
    let mut per_shard: Vec<Vec<&ClickValues>> = vec![Vec::new(); keys.len()];
    for entry in entries {
        per_shard[entry.shard].push(&entry.values);
    }
    keys.iter()
        .zip(per_shard)
        .map(|(key, clicks)| {
            let mut pipe = SlotPipeline::new();
            let mut count = 0;
            for pack in clicks.chunks(PACK_MAX_CLICKS) {
                let command = pipe.cmd("XADD", key).arg("*");
                if let [one] = pack {
                    for (field, value) in stream_entry::named(one) {
                        command.arg(field).arg(value);
                    }
                } else {
                    for (field, value) in stream_entry::pack(pack.iter().copied(), compression) {
                        command.arg(field).arg(value);
                    }
                }
                count += 1;
            }
            (pipe, count)
        })
        .collect()
}

/// Appends `entries` directly, one pipeline per shard, one shard after the
/// other, packed as ingest packs them with `compression`: for tools and
/// tests that need no collector (the bench's preload, the chaos suite, test
/// fixtures).
pub async fn append(
    conn: &mut Conn,
    layout: &Layout,
    entries: &[Entry],
    compression: PackCompression,
) -> redis::RedisResult<()> {
    let pipelines = shard_pipelines(layout.streams(), entries.iter(), compression);
    for (pipe, count) in pipelines {
        if count > 0 {
            let _: Vec<Value> = pipe.pipeline().query_async(conn).await?;
        }
    }
    Ok(())
}

/// One shard's pipeline: `count` XADDs, then `WAIT` when replicas are
/// required. A cluster answers a pipeline on a slot that has moved with
/// `MOVED`/`ASK` per command, which the client library does not follow for
/// pipelines: then one keyed command makes it learn the slot's new owner,
/// and the pipeline is sent again while time is left. Entries a first
/// attempt did write before the slot moved are written twice, which the
/// worker's exactly-once storage absorbs.
async fn write_pipeline(
    redis: &mut Conn,
    pipe: &SlotPipeline,
    count: usize,
    replication: Replication,
) -> Result<(), EnqueueError> {
    let deadline = tokio::time::Instant::now() + replication.timeout;
    let mut pause = REDIRECT_PAUSE_MIN;
    let reply = loop {
        let attempt =
            tokio::time::timeout_at(deadline, pipe.pipeline().query_async::<Vec<Value>>(redis))
                .await
                .map_err(|_| EnqueueError::Timeout(replication.timeout))?;
        match attempt {
            Ok(reply) => break reply,
            Err(error) if is_redirect(&error) && tokio::time::Instant::now() + pause < deadline => {
                if let Some(key) = pipe.key() {
                    // Following the redirect updates the client's slot map.
                    let _: redis::RedisResult<bool> =
                        redis::cmd("EXISTS").arg(key).query_async(redis).await;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(REDIRECT_PAUSE_MAX);
            }
            Err(error) => return Err(EnqueueError::Redis(error.to_string())),
        }
    };
    let expected = count + usize::from(replication.min_replicas > 0);
    if reply.len() != expected {
        return Err(EnqueueError::Redis(format!(
            "{} replies for {count} XADDs",
            reply.len()
        )));
    }
    if replication.min_replicas > 0 {
        let acknowledged = match reply.last() {
            Some(Value::Int(replicas)) => u64::try_from(*replicas).unwrap_or(0),
            _ => 0,
        };
        if acknowledged < u64::from(replication.min_replicas) {
            return Err(EnqueueError::NotReplicated {
                acknowledged,
                wanted: replication.min_replicas,
            });
        }
    }
    Ok(())
}

/// Shortest and longest wait before a pipeline follows a moved slot again.
const REDIRECT_PAUSE_MIN: Duration = Duration::from_millis(5);
const REDIRECT_PAUSE_MAX: Duration = Duration::from_millis(100);

/// A slot that moved or is moving (resharding, a failover): worth another try.
fn is_redirect(error: &redis::RedisError) -> bool {
    matches!(
        error.code(),
        Some("MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN")
    )
}
