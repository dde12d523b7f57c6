//! The suite's view of a scenario's stream: how far the workers' group has
//! got, the dead letters, and raw entries written past ingest (poison).
//!
//! Redis may be down when it is asked (that is scenario 4): every call fails
//! then, and the next one connects again.

use std::time::Duration;

use anyhow::Context;
use clickstream::dead_letter::{self, DeadLetter};
use clickstream::inspect;
use clickstream::{Conn, DEFAULT_GROUP, EntryId, Redis, RedisSettings, StreamNames};

const TIMEOUT: Duration = Duration::from_secs(2);

/// The workers' group as Redis reports it.
pub type GroupState = inspect::GroupInfo;

pub struct Queue {
    redis: Redis,
    conn: Option<Conn>,
    names: StreamNames,
}

impl Queue {
    pub fn new(redis_url: &str, stream: &str) -> anyhow::Result<Self> {
        Ok(Self {
            redis: Redis::new(&RedisSettings::from_url(redis_url))?,
            conn: None,
            names: StreamNames {
                stream: stream.to_owned(),
                group: DEFAULT_GROUP.to_owned(),
                consumer: "clicks-chaos".to_owned(),
            },
        })
    }

    async fn conn(&mut self) -> anyhow::Result<Conn> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let conn = self
            .redis
            .dedicated(TIMEOUT)
            .await
            .context("connect to Redis")?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `call` on the connection; drops the connection when it fails.
    async fn with<T>(
        &mut self,
        what: &str,
        call: impl AsyncFnOnce(&mut Conn, &StreamNames) -> redis::RedisResult<T>,
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
        self.with("XINFO GROUPS", async |conn, names| {
            inspect::group(conn, names).await
        })
        .await
    }

    /// The ID of the newest entry of the stream, if any.
    pub async fn last_entry(&mut self) -> anyhow::Result<Option<EntryId>> {
        self.with("XREVRANGE", async |conn, names| {
            inspect::last_entry(conn, &names.stream).await
        })
        .await
    }

    /// Whether every entry up to `id` has been delivered and acknowledged.
    pub async fn settled_up_to(&mut self, id: EntryId) -> anyhow::Result<bool> {
        let Some(group) = self.group().await? else {
            return Ok(false);
        };
        if group.last_delivered.is_none_or(|delivered| delivered < id) {
            return Ok(false);
        }
        let pending = self
            .with("XPENDING", async |conn, names| {
                inspect::pending_up_to(conn, names, id).await
            })
            .await?;
        Ok(!pending)
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
        let holders = self
            .with("XPENDING", async |conn, names| {
                inspect::pending_by_consumer(conn, names).await
            })
            .await?;
        Ok(holders
            .iter()
            .filter(|(consumer, _)| consumers.contains(consumer))
            .map(|(_, pending)| pending)
            .sum())
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
        let id = self
            .with("XADD", async |conn, names| {
                inspect::add_raw(conn, &names.stream, fields).await
            })
            .await?;
        EntryId::parse(&id).with_context(|| format!("XADD answered `{id}`"))
    }
}
