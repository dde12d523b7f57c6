//! How far the workers are behind: the largest lag + pending over each
//! shard's groups, summed over the shards.
//!
//! On a cluster one shard's master may be down while the others serve: the
//! backlog is then the sum over the shards that answered, and the ones that
//! did not are counted apart. Only when no shard answers is it an error.

use std::time::Duration;

use redis::RedisResult;
use redis::aio::ConnectionLike;
use redis::streams::StreamInfoGroupsReply;

use crate::Conn;

/// A backlog measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Entries waiting, summed over the shards that answered.
    pub entries: u64,
    /// Shards that did not answer.
    pub unanswered: usize,
}

/// The backlog of a (sharded) stream: the sum over its keys, measured side
/// by side, each within `timeout`; an error only when no key could be measured.
pub async fn measure(conn: &Conn, streams: &[String], timeout: Duration) -> RedisResult<Measured> {
    let shards = streams.iter().map(|stream| {
        let mut conn = conn.clone();
        async move {
            tokio::time::timeout(timeout, measure_one(&mut conn, stream))
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the backlog measurement timed out",
                    )))
                })
        }
    });
    let mut measured = Measured {
        entries: 0,
        unanswered: 0,
    };
    let mut last_error = None;
    for result in futures_util::future::join_all(shards).await {
        match result {
            Ok(entries) => measured.entries = measured.entries.saturating_add(entries),
            Err(error) => {
                measured.unanswered += 1;
                last_error = Some(error);
            }
        }
    }
    match last_error {
        Some(error) if measured.unanswered == streams.len() => Err(error),
        _ => Ok(measured),
    }
}

/// The largest lag + pending over the stream's groups. A stream nobody
/// consumes yet counts its length: everything in it is waiting.
async fn measure_one(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
) -> RedisResult<u64> {
    // The stream's length bounds every lag from above: Redis cannot tell the
    // lag after some trims by ID, and a replica promoted by a failover
    // (Redis before 7.2.4) reports a lag that never goes away. A missing or
    // empty stream has nothing waiting (pending entries are never trimmed).
    let length: u64 = redis::cmd("XLEN").arg(stream).query_async(conn).await?;
    if length == 0 {
        return Ok(0);
    }
    let groups: StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await?;
    let mut worst = 0u64;
    for group in &groups.groups {
        let lag = group.lag.map_or(length, |lag| (lag as u64).min(length));
        worst = worst.max(lag + group.pending as u64);
    }
    if groups.groups.is_empty() {
        worst = length;
    }
    Ok(worst)
}
