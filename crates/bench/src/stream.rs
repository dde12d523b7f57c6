//! The bench's own stream key `bench-<run>` on the local Redis (one node or
//! a cluster): a backlog appended straight through clickstream, and the
//! removal of its keys at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use clickstream::{Conn, Entry, Layout, Redis, RedisSettings};
use domain::StreamClick;
use domain::stream_entry::PackCompression;

use crate::payload::ClickGen;

/// Clicks per `clickstream::enqueue::append` call (one pipeline per shard, packed).
const PRELOAD_CHUNK: u64 = 10_000;
/// Clicks per generated batch (the batch webhook's most).
const GENERATED_BATCH: u64 = 1000;

use crate::topology::ensure_loopback_redis;

pub struct BenchStream {
    pub key: String,
    /// The keys the clicks go to: `key` itself, or its shards.
    layout: Layout,
    conn: Conn,
}

impl BenchStream {
    /// The stream `key`, split into `shards` keys as the services split it.
    pub async fn open(redis_url: &str, key: String, shards: u32) -> anyhow::Result<Self> {
        ensure_loopback_redis(redis_url)?;
        let redis = Redis::new(&RedisSettings::from_url(redis_url))?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            redis.dedicated(std::time::Duration::from_secs(30)),
        )
        .await
        .context("connecting to Redis timed out")?
        .context("connect to Redis")?;
        Ok(Self {
            layout: Layout::new(&key, shards),
            key,
            conn,
        })
    }

    /// Appends exactly `clicks` clicks of `generator`, each on the shard
    /// its offer routes to, as ingest would have written them with
    /// `compression`; fails when that takes longer than `limit`.
    pub async fn preload(
        &self,
        generator: &mut ClickGen,
        clicks: u64,
        compression: PackCompression,
        limit: Duration,
    ) -> anyhow::Result<u64> {
        let deadline = Instant::now() + limit;
        let mut conn = self.conn.clone();
        let mut buf = BytesMut::new();
        let mut appended = 0;
        while appended < clicks {
            if Instant::now() >= deadline {
                bail!("only {appended} of {clicks} clicks appended within {limit:?}");
            }
            let chunk = PRELOAD_CHUNK.min(clicks - appended);
            let received_at = chrono::Utc::now();
            let mut entries = Vec::with_capacity(chunk as usize);
            let mut generated = 0;
            while generated < chunk {
                let count = GENERATED_BATCH.min(chunk - generated);
                for click in generator.clicks(count, &mut buf)? {
                    entries.push(Entry::new(
                        &self.layout,
                        &StreamClick { click, received_at },
                    ));
                }
                generated += count;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::timeout(
                left,
                clickstream::enqueue::append(&mut conn, &self.layout, &entries, compression),
            )
            .await
            .with_context(|| {
                format!("only {appended} of {clicks} clicks appended within {limit:?}")
            })?
            .context("append the backlog")?;
            appended += chunk;
        }
        Ok(appended)
    }

    /// `XLEN` of the stream, summed over its shards (0 when it does not exist).
    pub async fn len(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        clickstream::consumer::length(&mut conn, self.layout.streams())
            .await
            .context("XLEN")
    }

    /// The clicks the stream holds, summed over its shards (packed entries
    /// hold many).
    pub async fn clicks(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        clickstream::inspect::click_count(&mut conn, self.layout.streams())
            .await
            .context("XRANGE")
    }

    /// The persistence settings of (one node of) this Redis.
    pub async fn persistence(&self) -> anyhow::Result<String> {
        let mut conn = self.conn.clone();
        let persistence = clickstream::inspect::persistence(&mut conn)
            .await
            .context("CONFIG GET")?;
        Ok(persistence.to_string())
    }

    /// Deletes the stream, its shards and dead letters, and on one node every
    /// key that starts with its name.
    pub async fn delete_all(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        clickstream::admin::delete_queue(&mut conn, &self.key, self.layout.shard_count() as u32)
            .await
            .context("delete the bench's keys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn preload_appends_the_exact_number_of_clicks_over_the_shards() {
        let key = format!("bench-test-{}", crate::payload::new_run_id());
        let stream = match BenchStream::open("redis://127.0.0.1:6379", key, 3).await {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("skipped: no local Redis ({error:#})");
                return;
            }
        };
        let mut generator = ClickGen::new("r", "p", 0);
        let appended = stream
            .preload(
                &mut generator,
                12_345,
                Default::default(),
                Duration::from_secs(60),
            )
            .await
            .expect("preload");
        assert_eq!(appended, 12_345);
        assert_eq!(stream.clicks().await.expect("XRANGE"), 12_345);
        let mut conn = stream.conn.clone();
        for shard in stream.layout.streams() {
            let one = std::slice::from_ref(shard);
            let len = clickstream::consumer::length(&mut conn, one)
                .await
                .expect("XLEN");
            assert!(len > 0, "shard {shard} got nothing");
        }
        stream.delete_all().await.expect("delete");
    }

    #[tokio::test]
    async fn a_cluster_takes_the_backlog_on_every_master() {
        let cluster = testkit::RedisCluster::start().await;
        let key = format!("bench-test-{}", crate::payload::new_run_id());
        let stream = BenchStream::open(&cluster.url(), key, 6)
            .await
            .expect("open");
        let mut generator = ClickGen::new("r", "c", 0);
        let appended = stream
            .preload(
                &mut generator,
                3000,
                Default::default(),
                Duration::from_secs(60),
            )
            .await
            .expect("preload");
        assert_eq!(appended, 3000);
        assert_eq!(stream.clicks().await.expect("XRANGE"), 3000);
        let mut conn = stream.conn.clone();
        let mut masters = std::collections::BTreeSet::new();
        for shard in stream.layout.streams() {
            let one = std::slice::from_ref(shard);
            let len = clickstream::consumer::length(&mut conn, one)
                .await
                .expect("XLEN");
            assert!(len > 0, "shard {shard} got nothing");
            let slot = clickstream::layout::slot_of(shard.as_bytes());
            masters.insert(cluster.master_of_slot(slot).await);
        }
        assert_eq!(masters.len(), 3, "{masters:?}");
        assert_eq!(stream.delete_all().await.expect("delete"), 6);
        assert_eq!(stream.len().await.expect("XLEN"), 0);
    }

    #[tokio::test]
    async fn keys_with_the_prefix_are_deleted() {
        let key = format!("bench-test-{}", crate::payload::new_run_id());
        let stream = match BenchStream::open("redis://127.0.0.1:6379", key.clone(), 1).await {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("skipped: no local Redis ({error:#})");
                return;
            }
        };
        let mut conn = stream.conn.clone();
        let click = testkit::click("bench", 1);
        testkit::xadd_clicks(&mut conn, &stream.layout, &[click]).await;
        let layout = Layout::new(&key, 1);
        clickstream::keyvalue::remember_webhook_id(
            &mut conn,
            &layout,
            "msg",
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("SET");
        assert_eq!(stream.len().await.expect("XLEN"), 1);
        assert_eq!(stream.delete_all().await.expect("delete"), 2);
        assert_eq!(stream.len().await.expect("XLEN"), 0);
    }
}
