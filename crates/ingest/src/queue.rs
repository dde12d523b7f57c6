//! Appending clicks to the Redis stream, many requests per round trip.
//!
//! Every click becomes one stream entry (`XADD <CLICKS_QUEUE_NAME> * …`, the
//! fields of `domain::stream_entry`; with `CLICKS_STREAM_SHARDS` > 1, on the
//! shard key its `offer_id` hashes to, see `domain::shards`). Entries are never trimmed here: only
//! the worker trims, and only below what its group has acknowledged.
//!
//! Requests do not talk to Redis themselves. They hand their entries to the
//! [`Enqueuer`] and wait for its answer. One collector task takes whatever has
//! queued up — a request's worth when the service is idle, thousands under
//! load — and writes it as one pipeline, so throughput grows with concurrency
//! while an idle service adds no delay. Each request is answered only when
//! the pipeline holding its own entries has been acknowledged by Redis.
//!
//! Memory stays bounded: the hand-off channel holds a fixed number of
//! requests, pipelines carry at most `ENQUEUE_MAX_PIPELINE` entries, and at
//! most `ENQUEUE_MAX_IN_FLIGHT` pipelines are outstanding.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Time for Redis to acknowledge one pipeline.
pub const ENQUEUE_DURATION_SECONDS: &str = "enqueue_duration_seconds";
/// Entries per pipeline.
pub const ENQUEUE_PIPELINE_ENTRIES: &str = "enqueue_pipeline_entries";

/// One stream entry: field/value pairs.
pub type Entry = [(&'static str, String); 6];

/// Requests waiting for the collector at most; senders wait beyond that.
const HANDOFF_CAPACITY: usize = 4096;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EnqueueError {
    #[error("redis did not acknowledge the entries: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
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
}

pub struct EnqueuerLimits {
    pub max_pipeline: usize,
    pub max_in_flight: usize,
    pub timeout: Duration,
}

impl Enqueuer {
    /// Starts the collector on the current Tokio runtime. It stops when every
    /// `Enqueuer` clone is dropped, after answering what it has taken.
    /// `stream_keys`: one key, or the shards of the stream in order.
    pub fn start(
        redis: ConnectionManager,
        stream_keys: Vec<String>,
        limits: EnqueuerLimits,
    ) -> (Self, JoinHandle<()>) {
        assert!(!stream_keys.is_empty(), "at least one stream key");
        let (jobs, receiver) = mpsc::channel(HANDOFF_CAPACITY);
        let collector = Collector {
            redis,
            stream_keys: stream_keys.into(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
        };
        (Self { jobs }, tokio::spawn(collector.run(receiver)))
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
    redis: ConnectionManager,
    stream_keys: Arc<[String]>,
    in_flight: Arc<Semaphore>,
    limits: EnqueuerLimits,
}

impl Collector {
    async fn run(self, mut receiver: mpsc::Receiver<Job>) {
        let mut pipelines = tokio::task::JoinSet::new();
        while let Some(first) = receiver.recv().await {
            // Waiting for a slot lets more requests queue up behind `first`,
            // so the next pipeline is fuller exactly when Redis is busy.
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
            let timeout = self.limits.timeout;
            pipelines.spawn(async move {
                write_pipeline(redis, &keys, jobs, size, timeout).await;
                drop(permit);
            });
            while pipelines.try_join_next().is_some() {}
        }
        while pipelines.join_next().await.is_some() {}
    }
}

/// The shard of an entry: where its `offer_id` hashes to (see
/// `domain::shards`).
fn shard_of_entry(entry: &Entry, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let offer_id = entry
        .iter()
        .find(|(field, _)| *field == domain::click::fields::OFFER_ID)
        .map_or("", |(_, value)| value.as_str());
    domain::shards::shard_of(offer_id, shards as u32)
}

#[tracing::instrument(name = "enqueue_pipeline", skip_all, fields(requests = jobs.len(), entries = size))]
async fn write_pipeline(
    mut redis: ConnectionManager,
    keys: &[String],
    jobs: Vec<Job>,
    size: usize,
    timeout: Duration,
) {
    let mut pipe = redis::pipe();
    for job in &jobs {
        for entry in &job.entries {
            let key = &keys[shard_of_entry(entry, keys.len())];
            let command = pipe.cmd("XADD").arg(key).arg("*");
            for (field, value) in entry {
                command.arg(*field).arg(value.as_str());
            }
        }
    }
    let started = std::time::Instant::now();
    let result =
        match tokio::time::timeout(timeout, pipe.query_async::<Vec<String>>(&mut redis)).await {
            Ok(Ok(ids)) if ids.len() == size => Ok(()),
            Ok(Ok(ids)) => Err(EnqueueError::Redis(format!(
                "{} ids for {size} entries",
                ids.len()
            ))),
            Ok(Err(error)) => Err(EnqueueError::Redis(error.to_string())),
            Err(_) => Err(EnqueueError::Timeout(timeout)),
        };
    metrics::histogram!(ENQUEUE_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::histogram!(ENQUEUE_PIPELINE_ENTRIES).record(size as f64);
    if let Err(error) = &result {
        tracing::warn!(%error, "enqueue failed; the requests are answered 503");
    }
    for job in jobs {
        // A caller that went away no longer needs the answer.
        let _ = job.done.send(result.clone());
    }
}
