//! The bench's own stream key `bench-<run>` on the local Redis, and the
//! removal of every key with that prefix at the end.

use anyhow::Context;
use redis::aio::MultiplexedConnection;

use crate::conn::ensure_loopback_url;

/// SCAN rounds before giving up on finding the bench's keys.
const MAX_SCAN_ROUNDS: usize = 100_000;

pub struct BenchStream {
    pub key: String,
    /// The keys the clicks go to: `key` itself, or its shards.
    shard_keys: Vec<String>,
    conn: MultiplexedConnection,
}

impl BenchStream {
    /// The stream `key`, split into `shards` keys as the services split it.
    pub async fn open(redis_url: &str, key: String, shards: u32) -> anyhow::Result<Self> {
        ensure_loopback_url(redis_url)?;
        let client = redis::Client::open(redis_url).context("REDIS_URL")?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client.get_multiplexed_async_connection(),
        )
        .await
        .context("connecting to Redis timed out")?
        .context("connect to Redis")?;
        let shard_keys = domain::shards::stream_keys(&key, shards);
        Ok(Self {
            key,
            shard_keys,
            conn,
        })
    }

    /// `XLEN` of the stream, summed over its shards (0 when it does not exist).
    pub async fn len(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        let mut total = 0;
        for key in &self.shard_keys {
            let len: u64 = redis::cmd("XLEN")
                .arg(key)
                .query_async(&mut conn)
                .await
                .context("XLEN")?;
            total += len;
        }
        Ok(total)
    }

    /// Deletes the stream and every key that starts with its name.
    pub async fn delete_all(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.key);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        for _ in 0..MAX_SCAN_ROUNDS {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .context("SCAN")?;
            if !keys.is_empty() {
                let removed: u64 = redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .context("DEL")?;
                deleted += removed;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(deleted)
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
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("f")
            .arg("v")
            .query_async(&mut conn)
            .await
            .expect("XADD");
        let _: () = redis::cmd("SET")
            .arg(format!("{key}:companion"))
            .arg("1")
            .query_async(&mut conn)
            .await
            .expect("SET");
        assert_eq!(stream.len().await.expect("XLEN"), 1);
        assert_eq!(stream.delete_all().await.expect("delete"), 2);
        assert_eq!(stream.len().await.expect("XLEN"), 0);
    }
}
