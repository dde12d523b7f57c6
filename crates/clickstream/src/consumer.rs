//! The consumer group's commands, one shard (stream key) at a time: the
//! group's creation, reads, claims, delivery counts, acknowledgements, dead
//! letters, trimming and the forgetting of departed consumers. Every call
//! touches one key and its dead-letter stream, which share a slot.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::streams::{StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingReply};
use redis::{AsyncCommands, RedisResult, Value};

pub use crate::entry::{EntryId, RawEntry};
pub(crate) use crate::entry::{into_text, parse_entries, parse_read_reply};
use crate::layout::SlotPipeline;
pub use crate::layout::{DEAD_LETTER_SUFFIX, DEFAULT_GROUP};
/// Dead-letter field: why the entry was set aside.
pub const DL_REASON: &str = "dead_letter_reason";
/// Dead-letter field: the entry's ID on the main stream.
pub const DL_SOURCE_ID: &str = "dead_letter_source_id";
/// Dead-letter field: how many times it had been delivered.
pub const DL_DELIVERIES: &str = "dead_letter_deliveries";
/// Dead-letter field: when it was set aside (RFC 3339, UTC).
pub const DL_AT: &str = "dead_letter_at";

/// Stream and group names of one worker.
#[derive(Debug, Clone)]
pub struct StreamNames {
    pub stream: String,
    pub group: String,
    pub consumer: String,
}

impl StreamNames {
    pub fn dead_letter(&self) -> String {
        crate::layout::dead_letter_key(&self.stream)
    }
}

/// Creates the group (and the stream) if missing.
pub async fn ensure_group(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
) -> RedisResult<()> {
    let created: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&names.stream)
        .arg(&names.group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Whether an error means the group (or the stream) disappeared.
pub fn is_missing_group(error: &redis::RedisError) -> bool {
    error.code() == Some("NOGROUP")
}

/// `XREADGROUP … STREAMS <stream> <start>`: with `>` new entries (waiting up to
/// `block`), with an ID this consumer's own pending entries after it.
pub async fn read_group(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    start: &str,
    count: usize,
    block: Option<Duration>,
) -> RedisResult<Vec<RawEntry>> {
    let mut command = redis::cmd("XREADGROUP");
    command
        .arg("GROUP")
        .arg(&names.group)
        .arg(&names.consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(block) = block {
        command.arg("BLOCK").arg(block.as_millis() as u64);
    }
    command.arg("STREAMS").arg(&names.stream).arg(start);
    let reply: Value = command.query_async(conn).await?;
    Ok(parse_read_reply(reply))
}

/// `XAUTOCLAIM`: takes over entries idle longer than `min_idle` (their
/// consumer is presumably dead). Returns the entries and the cursor to
/// continue from (`0-0` when the scan is complete).
pub async fn autoclaim(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> RedisResult<(Vec<RawEntry>, String)> {
    let reply: Value = redis::cmd("XAUTOCLAIM")
        .arg(&names.stream)
        .arg(&names.group)
        .arg(&names.consumer)
        .arg(min_idle.as_millis() as u64)
        .arg(cursor)
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    let Value::Array(mut parts) = reply else {
        return Ok((Vec::new(), "0-0".to_owned()));
    };
    let entries = if parts.len() > 1 {
        parse_entries(parts.swap_remove(1))
    } else {
        Vec::new()
    };
    let next = parts
        .into_iter()
        .next()
        .and_then(into_text)
        .unwrap_or_else(|| "0-0".to_owned());
    Ok((entries, next))
}

/// Fills in how many times each entry has been delivered (from `XPENDING`),
/// for entries read from history or claimed, whose count may be above one.
pub async fn load_delivery_counts(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    entries: &mut [RawEntry],
) -> RedisResult<()> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(());
    };
    let reply: Value = redis::cmd("XPENDING")
        .arg(&names.stream)
        .arg(&names.group)
        .arg(&first.id)
        .arg(&last.id)
        .arg(entries.len())
        .arg(&names.consumer)
        .query_async(conn)
        .await?;
    let Value::Array(rows) = reply else {
        return Ok(());
    };
    for row in rows {
        let Value::Array(mut row) = row else { continue };
        let count = match row.get(3) {
            Some(Value::Int(count)) => *count,
            _ => continue,
        };
        let Some(id) = row.drain(..).next().and_then(into_text) else {
            continue;
        };
        if let Some(entry) = entries.iter_mut().find(|entry| entry.id == id) {
            entry.deliveries = u64::try_from(count).unwrap_or(u64::MAX);
        }
    }
    Ok(())
}

/// `XACK` of the given IDs.
pub async fn ack(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    ids: &[&str],
) -> RedisResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let _: u64 = conn.xack(&names.stream, &names.group, ids).await?;
    Ok(())
}

/// Copies entries to the dead-letter stream with their reason. The caller
/// acknowledges them only after this succeeded.
pub async fn dead_letter(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    entries: &[(&RawEntry, String)],
) -> RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let key = names.dead_letter();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut pipe = SlotPipeline::new();
    for (entry, reason) in entries {
        let command = pipe.cmd("XADD", &key).arg("*");
        for (field, value) in &entry.fields {
            command.arg(field.as_slice()).arg(value.as_slice());
        }
        command
            .arg(DL_REASON)
            .arg(reason.as_str())
            .arg(DL_SOURCE_ID)
            .arg(entry.id.as_str())
            .arg(DL_DELIVERIES)
            .arg(entry.deliveries)
            .arg(DL_AT)
            .arg(now.as_str());
    }
    let _: Vec<String> = pipe.pipeline().query_async(conn).await?;
    Ok(())
}

/// The lowest entry ID some group may still need: for each group its oldest
/// pending entry, or, with nothing pending, the entry after the last one it
/// was given. Everything below is acknowledged by every group. `None` when
/// there is no group (then nothing may be trimmed).
pub async fn safe_trim_point(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
) -> RedisResult<Option<String>> {
    let groups: StreamInfoGroupsReply = conn.xinfo_groups(stream).await?;
    let mut lowest: Option<EntryId> = None;
    for group in &groups.groups {
        let needed = if group.pending > 0 {
            let summary: StreamPendingReply = conn.xpending(stream, &group.name).await?;
            match summary {
                StreamPendingReply::Data(data) => EntryId::parse(&data.start_id),
                _ => EntryId::parse(&group.last_delivered_id).map(EntryId::next),
            }
        } else {
            EntryId::parse(&group.last_delivered_id).map(EntryId::next)
        };
        let Some(needed) = needed else {
            // An ID we cannot read: keep everything rather than guess.
            return Ok(None);
        };
        lowest = Some(lowest.map_or(needed, |current| current.min(needed)));
    }
    Ok(lowest.map(|id| id.to_string()))
}

/// The group's lag (entries not yet delivered; `None` where Redis cannot
/// tell) and pending count, for the worker's gauges.
pub async fn group_progress(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
) -> RedisResult<Option<(Option<u64>, u64)>> {
    let groups: StreamInfoGroupsReply = conn.xinfo_groups(&names.stream).await?;
    Ok(groups
        .groups
        .iter()
        .find(|group| group.name == names.group)
        .map(|group| (group.lag.map(|lag| lag as u64), group.pending as u64)))
}

/// The number of entries in the streams, summed (`XLEN`; 0 for a missing key).
pub async fn length(
    conn: &mut (impl ConnectionLike + Send + Sync),
    streams: &[String],
) -> RedisResult<u64> {
    let mut total = 0;
    for stream in streams {
        let length: u64 = conn.xlen(stream).await?;
        total += length;
    }
    Ok(total)
}

/// `XTRIM <stream> MINID <id>`: drops the entries below `id`. Exact rather
/// than `~`, so what the group has acknowledged really goes; it runs only
/// every few seconds.
pub async fn trim_below(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
    id: &str,
) -> RedisResult<u64> {
    redis::cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg(id)
        .query_async(conn)
        .await
}

/// Removes consumers of the group that hold nothing and have been idle
/// longer than `idle`: processes that exited. A live consumer removed this
/// way is re-created by its next read.
pub async fn forget_idle_consumers(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    idle: Duration,
) -> RedisResult<usize> {
    let reply: StreamInfoConsumersReply = conn.xinfo_consumers(&names.stream, &names.group).await?;
    let mut removed = 0;
    for consumer in reply.consumers {
        if consumer.pending == 0
            && consumer.idle as u128 > idle.as_millis()
            && consumer.name != names.consumer
        {
            let _: u64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&names.stream)
                .arg(&names.group)
                .arg(&consumer.name)
                .query_async(conn)
                .await?;
            removed += 1;
        }
    }
    Ok(removed)
}
