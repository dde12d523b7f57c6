//! Looking at a shard from outside the group: how far the workers' group
//! has got, who holds what, and writing an entry past ingest's checks. For
//! the chaos suite's verdicts and for tests.

use redis::aio::ConnectionLike;
use redis::streams::{StreamInfoGroupsReply, StreamPendingReply};
use redis::{RedisResult, Value};

use crate::consumer::{EntryId, StreamNames};

/// A consumer group as Redis reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub last_delivered: Option<EntryId>,
    /// Delivered, not acknowledged.
    pub pending: u64,
    /// Not yet delivered; `None` when Redis cannot tell.
    pub lag: Option<u64>,
    /// Entries delivered so far (Redis 7+).
    pub entries_read: Option<u64>,
}

impl GroupInfo {
    /// Entries acknowledged so far: read minus pending.
    pub fn acknowledged(&self) -> Option<u64> {
        self.entries_read
            .map(|read| read.saturating_sub(self.pending))
    }
}

/// The group of `names`; `None` while the stream or the group does not exist.
pub async fn group(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
) -> RedisResult<Option<GroupInfo>> {
    let reply: RedisResult<StreamInfoGroupsReply> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&names.stream)
        .query_async(conn)
        .await;
    let reply = match reply {
        Ok(reply) => reply,
        Err(error) if error.to_string().contains("no such key") => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(reply
        .groups
        .into_iter()
        .find(|group| group.name == names.group)
        .map(|group| GroupInfo {
            last_delivered: EntryId::parse(&group.last_delivered_id),
            pending: group.pending as u64,
            lag: group.lag.map(|lag| lag as u64),
            entries_read: group.entries_read.map(|read| read as u64),
        }))
}

/// The ID of the newest entry of the stream, if any.
pub async fn last_entry(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
) -> RedisResult<Option<EntryId>> {
    let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(ids.first().and_then(|(id, _)| EntryId::parse(id)))
}

/// Whether some entry up to `end` is still pending in the group.
pub async fn pending_up_to(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    end: EntryId,
) -> RedisResult<bool> {
    let pending: Vec<Value> = redis::cmd("XPENDING")
        .arg(&names.stream)
        .arg(&names.group)
        .arg("-")
        .arg(end.to_string())
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(!pending.is_empty())
}

/// Entries pending with each consumer of the group.
pub async fn pending_by_consumer(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
) -> RedisResult<Vec<(String, u64)>> {
    let reply: StreamPendingReply = redis::cmd("XPENDING")
        .arg(&names.stream)
        .arg(&names.group)
        .query_async(conn)
        .await?;
    Ok(match reply {
        StreamPendingReply::Data(data) => data
            .consumers
            .into_iter()
            .map(|consumer| (consumer.name, consumer.pending as u64))
            .collect(),
        _ => Vec::new(),
    })
}

/// Appends an entry as is, past every check (a poison entry); returns its ID.
pub async fn add_raw(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
    fields: &[(&str, &[u8])],
) -> RedisResult<String> {
    let mut command = redis::cmd("XADD");
    command.arg(stream).arg("*");
    for (field, value) in fields {
        command.arg(*field).arg(*value);
    }
    command.query_async(conn).await
}
