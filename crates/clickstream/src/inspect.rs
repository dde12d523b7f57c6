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
pub async fn add_raw<F: AsRef<[u8]>, V: AsRef<[u8]>>(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
    fields: &[(F, V)],
) -> RedisResult<String> {
    let mut command = redis::cmd("XADD");
    command.arg(stream).arg("*");
    for (field, value) in fields {
        command.arg(field.as_ref()).arg(value.as_ref());
    }
    command.query_async(conn).await
}

/// Every entry of the stream, oldest first (`XRANGE - +`).
pub async fn entries(
    conn: &mut (impl ConnectionLike + Send + Sync),
    stream: &str,
) -> RedisResult<Vec<crate::RawEntry>> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await?;
    Ok(crate::consumer::parse_entries(reply))
}

/// The clicks the streams hold (a packed entry counts its clicks), read in
/// pages of `XRANGE`s: for verdicts on small streams (tests, the bench).
pub async fn click_count(
    conn: &mut (impl ConnectionLike + Send + Sync),
    streams: &[String],
) -> RedisResult<u64> {
    const PAGE: usize = 1000;
    let mut clicks = 0;
    for stream in streams {
        let mut start = "-".to_owned();
        loop {
            let reply: Value = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(PAGE)
                .query_async(conn)
                .await?;
            let page = crate::consumer::parse_entries(reply);
            clicks += page.iter().map(clicks_in).sum::<u64>();
            match page.last() {
                Some(last) if page.len() == PAGE => start = format!("({}", last.id),
                _ => break,
            }
        }
    }
    Ok(clicks)
}

/// The clicks an entry holds: its `click_count`, or 1 in the one-click form.
fn clicks_in(entry: &crate::RawEntry) -> u64 {
    entry
        .fields
        .iter()
        .find(|(field, _)| field == domain::stream_entry::FIELD_CLICK_COUNT.as_bytes())
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.parse().ok())
        .unwrap_or(1)
}

/// Entries delivered to the group and not yet acknowledged (0 without a group).
pub async fn pending_count(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
) -> RedisResult<u64> {
    Ok(group(conn, names).await?.map_or(0, |group| group.pending))
}

/// The first `count` pending entries of the group: `(entry id, consumer)`.
pub async fn pending_entries(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    count: usize,
) -> RedisResult<Vec<(String, String)>> {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&names.stream)
        .arg(&names.group)
        .arg("-")
        .arg("+")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(reply
        .ids
        .into_iter()
        .map(|entry| (entry.id, entry.consumer))
        .collect())
}

/// How a node persists writes, by its own `CONFIG GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// `appendonly`: whether it keeps an append-only file.
    pub append_only: bool,
    /// `appendfsync`: `always`, `everysec` or `no`.
    pub append_fsync: String,
    /// `save`: the snapshot points (empty: none).
    pub save: String,
}

impl std::fmt::Display for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.append_only {
            write!(f, "appendonly yes, appendfsync {}", self.append_fsync)?;
        } else {
            write!(f, "appendonly no")?;
        }
        write!(f, ", save \"{}\"", self.save)
    }
}

/// The persistence settings of the node the connection reaches (on a
/// cluster, of whichever node the client picks: the bench and the tests
/// start nodes that all share one configuration).
pub async fn persistence(
    conn: &mut (impl ConnectionLike + Send + Sync),
) -> RedisResult<Persistence> {
    // One parameter per call: several in one CONFIG GET need Redis 7.
    let mut get = async |name: &str| -> RedisResult<String> {
        let pairs: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut *conn)
            .await?;
        Ok(pairs.into_iter().nth(1).unwrap_or_default())
    };
    let append_only = get("appendonly").await? == "yes";
    let append_fsync = get("appendfsync").await?;
    let save = get("save").await?;
    Ok(Persistence {
        append_only,
        append_fsync,
        save,
    })
}

/// Gives the node `persistence`: the bench makes its private cluster
/// persist like the standalone node it is compared with.
pub async fn set_persistence(
    conn: &mut (impl ConnectionLike + Send + Sync),
    persistence: &Persistence,
) -> RedisResult<()> {
    let append_only = if persistence.append_only { "yes" } else { "no" };
    for (name, value) in [
        ("appendfsync", persistence.append_fsync.as_str()),
        ("appendonly", append_only),
        ("save", persistence.save.as_str()),
    ] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What a node has spent so far: `used_cpu_sys` + `used_cpu_user` of its
/// `INFO`, and whether it is a replica (`role:slave`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeCpu {
    pub seconds: f64,
    pub replica: bool,
}

/// The CPU time of the node the connection reaches (a plain connection to
/// one node: on a cluster connection the client would pick any node).
pub async fn node_cpu(conn: &mut (impl ConnectionLike + Send)) -> RedisResult<NodeCpu> {
    let info: String = redis::cmd("INFO").query_async(conn).await?;
    let seconds = |name: &str| {
        crate::health::info_field(&info, name)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(NodeCpu {
        seconds: seconds("used_cpu_sys") + seconds("used_cpu_user"),
        replica: crate::health::info_field(&info, "role") == Some("slave"),
    })
}

/// The `host:port` of every node of the cluster the connection reaches, as
/// its `CLUSTER NODES` lists them (replicas included).
pub async fn cluster_node_addresses(
    conn: &mut (impl ConnectionLike + Send),
) -> RedisResult<Vec<String>> {
    let nodes = crate::health::cluster_nodes_text(conn).await?;
    Ok(crate::health::node_addresses(&nodes))
}
