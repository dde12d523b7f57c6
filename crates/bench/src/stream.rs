//! The bench's own stream key `bench-<run>` on the local Redis (one node or
//! a cluster), and the removal of its keys at the end.

use anyhow::Context;
use clickstream::{Conn, Layout, Redis, RedisSettings};

use crate::conn::ensure_loopback_url;

pub struct BenchStream {
    pub key: String,
    /// The keys the clicks go to: `key` itself, or its shards.
    layout: Layout,
    conn: Conn,
}

impl BenchStream {
    /// The stream `key`, split into `shards` keys as the services split it.
    pub async fn open(redis_url: &str, key: String, shards: u32) -> anyhow::Result<Self> {
        ensure_loopback_url(redis_url)?;
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

    /// `XLEN` of the stream, summed over its shards (0 when it does not exist).
    pub async fn len(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        clickstream::consumer::length(&mut conn, self.layout.streams())
            .await
            .context("XLEN")
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
