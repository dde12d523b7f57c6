//! Removing a queue's keys: for tests, the bench and the chaos suite,
//! which each run on a queue name of their own.

use redis::RedisResult;

use crate::Conn;
use crate::layout::{Layout, dead_letter_key};

/// SCAN rounds before giving up on finding a prefix's keys.
const MAX_SCAN_ROUNDS: usize = 100_000;

/// Deletes the streams of `queue` split into 1 to `max_shards` shards and
/// their dead-letter streams (each key alone, so it works on a cluster),
/// and on one node every other key that starts with `queue` (replay keys).
/// Returns how many keys went.
pub async fn delete_queue(conn: &mut Conn, queue: &str, max_shards: u32) -> RedisResult<u64> {
    let mut keys: Vec<String> = Vec::new();
    for shards in 1..=max_shards.max(1) {
        for stream in Layout::new(queue, shards).streams() {
            keys.push(dead_letter_key(stream));
            keys.push(stream.clone());
        }
    }
    keys.sort();
    keys.dedup();
    let mut deleted = 0;
    for key in keys {
        let removed: u64 = redis::cmd("DEL").arg(&key).query_async(conn).await?;
        deleted += removed;
    }
    if !matches!(conn, Conn::Cluster(_)) {
        deleted += delete_prefix(conn, queue).await?;
    }
    Ok(deleted)
}

/// Deletes every key of one node that starts with `prefix`.
async fn delete_prefix(conn: &mut Conn, prefix: &str) -> RedisResult<u64> {
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    for _ in 0..MAX_SCAN_ROUNDS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        for key in keys {
            let removed: u64 = redis::cmd("DEL").arg(&key).query_async(conn).await?;
            deleted += removed;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    Ok(deleted)
}

/// Holds every client's writes on this node for `duration` (`CLIENT PAUSE
/// … WRITE`): a Redis that is slow to answer, for tests and drills.
pub async fn pause_writes(conn: &mut Conn, duration: std::time::Duration) -> RedisResult<()> {
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(duration.as_millis() as u64)
        .arg("WRITE")
        .query_async(conn)
        .await
}
