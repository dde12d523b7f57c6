//! The suite's view of a scenario's stream: how far the workers' group has
//! got, the dead letters, and raw entries written past ingest (poison).
//!
//! Redis may be down when it is asked (that is scenario 4): every call fails
//! then, and the next one connects again.

use std::time::Duration;

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamInfoGroupsReply, StreamPendingReply};
use worker::dead_letter::{self, DeadLetter};
use worker::stream::{DEFAULT_GROUP, EntryId, StreamNames};

const TIMEOUT: Duration = Duration::from_secs(2);

/// The workers' group as Redis reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub last_delivered: Option<EntryId>,
    /// Delivered, not acknowledged.
    pub pending: u64,
    /// Not yet delivered; `None` when Redis cannot tell.
    pub lag: Option<u64>,
    /// Entries delivered so far (Redis 7+).
    pub entries_read: Option<u64>,
}

impl GroupState {
    /// Entries acknowledged so far: read minus pending.
    pub fn acknowledged(&self) -> Option<u64> {
        self.entries_read
            .map(|read| read.saturating_sub(self.pending))
    }
}

pub struct Queue {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    names: StreamNames,
}

impl Queue {
    pub fn new(redis_url: &str, stream: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(redis_url).context("Redis URL")?,
            conn: None,
            names: StreamNames {
                stream: stream.to_owned(),
                group: DEFAULT_GROUP.to_owned(),
                consumer: "clicks-chaos".to_owned(),
            },
        })
    }

    async fn conn(&mut self) -> anyhow::Result<MultiplexedConnection> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("connect to Redis")?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `call` on the connection; drops the connection when it fails.
    async fn with<T>(
        &mut self,
        what: &str,
        call: impl AsyncFnOnce(&mut MultiplexedConnection, &StreamNames) -> redis::RedisResult<T>,
    ) -> anyhow::Result<T> {
        let mut conn = self.conn().await?;
        match call(&mut conn, &self.names).await {
            Ok(value) => Ok(value),
            Err(error) => {
                self.conn = None;
                Err(error).with_context(|| format!("{what} on {}", self.names.stream))
            }
        }
    }

    /// The workers' group; `None` until a worker has created it.
    pub async fn group(&mut self) -> anyhow::Result<Option<GroupState>> {
        let reply: StreamInfoGroupsReply = match self
            .with("XINFO GROUPS", async |conn, names| {
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&names.stream)
                    .query_async(conn)
                    .await
            })
            .await
        {
            Ok(reply) => reply,
            // No stream yet.
            Err(error) if format!("{error:#}").contains("no such key") => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(reply
            .groups
            .into_iter()
            .find(|group| group.name == DEFAULT_GROUP)
            .map(|group| GroupState {
                last_delivered: EntryId::parse(&group.last_delivered_id),
                pending: group.pending as u64,
                lag: group.lag.map(|lag| lag as u64),
                entries_read: group.entries_read.map(|read| read as u64),
            }))
    }

    /// The ID of the newest entry of the stream, if any.
    pub async fn last_entry(&mut self) -> anyhow::Result<Option<EntryId>> {
        let ids: Vec<(String, Vec<(String, String)>)> = self
            .with("XREVRANGE", async |conn, names| {
                redis::cmd("XREVRANGE")
                    .arg(&names.stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(conn)
                    .await
            })
            .await?;
        Ok(ids.first().and_then(|(id, _)| EntryId::parse(id)))
    }

    /// Whether every entry up to `id` has been delivered and acknowledged.
    pub async fn settled_up_to(&mut self, id: EntryId) -> anyhow::Result<bool> {
        let Some(group) = self.group().await? else {
            return Ok(false);
        };
        if group.last_delivered.is_none_or(|delivered| delivered < id) {
            return Ok(false);
        }
        let end = id.to_string();
        let pending: Vec<redis::Value> = self
            .with("XPENDING", async |conn, names| {
                redis::cmd("XPENDING")
                    .arg(&names.stream)
                    .arg(&names.group)
                    .arg("-")
                    .arg(&end)
                    .arg(1)
                    .query_async(conn)
                    .await
            })
            .await?;
        Ok(pending.is_empty())
    }

    /// Whether the workers have taken and acknowledged everything.
    pub async fn drained(&mut self) -> anyhow::Result<bool> {
        let Some(group) = self.group().await? else {
            return Ok(false);
        };
        if group.pending > 0 {
            return Ok(false);
        }
        match group.lag {
            Some(lag) => Ok(lag == 0),
            None => {
                let last = self.last_entry().await?;
                Ok(last.is_none_or(|last| group.last_delivered.is_some_and(|d| d >= last)))
            }
        }
    }

    /// Entries pending with these consumers.
    pub async fn pending_with(&mut self, consumers: &[String]) -> anyhow::Result<u64> {
        let reply: StreamPendingReply = self
            .with("XPENDING", async |conn, names| {
                redis::cmd("XPENDING")
                    .arg(&names.stream)
                    .arg(&names.group)
                    .query_async(conn)
                    .await
            })
            .await?;
        Ok(match reply {
            StreamPendingReply::Data(data) => data
                .consumers
                .iter()
                .filter(|consumer| consumers.contains(&consumer.name))
                .map(|consumer| consumer.pending as u64)
                .sum(),
            _ => 0,
        })
    }

    /// Every dead letter of the stream, oldest first.
    pub async fn dead_letters(&mut self) -> anyhow::Result<Vec<DeadLetter>> {
        self.with("dead letters", async |conn, names| {
            dead_letter::list(conn, names, usize::MAX).await
        })
        .await
    }

    /// Appends an entry as is, past ingest's checks; returns its ID.
    pub async fn add_raw(&mut self, fields: &[(&str, &[u8])]) -> anyhow::Result<EntryId> {
        let id: String = self
            .with("XADD", async |conn, names| {
                let mut command = redis::cmd("XADD");
                command.arg(&names.stream).arg("*");
                for (field, value) in fields {
                    command.arg(*field).arg(*value);
                }
                command.query_async(conn).await
            })
            .await?;
        EntryId::parse(&id).with_context(|| format!("XADD answered `{id}`"))
    }
}
