//! The suite's view of a scenario's stream: how far the workers' group has
//! got, the dead letters, and raw entries written past ingest (poison).
//!
//! The stream is one key, or N shard keys (`CLICKS_STREAM_SHARDS`, the keys
//! of [`Layout::streams`]): every question is asked of each shard and the
//! answers combined — drained means every shard drained, pending entries are
//! summed, a [`Mark`] holds each shard's newest entry.
//!
//! Redis may be down when it is asked (scenario 4), or one shard's master
//! (scenarios 9–11): a call fails then, and the next one connects again.

use std::time::Duration;

use anyhow::Context;
use clickstream::dead_letter::{self, DeadLetter};
use clickstream::inspect;
use clickstream::{Conn, DEFAULT_GROUP, EntryId, Layout, Redis, RedisSettings, StreamNames};

const TIMEOUT: Duration = Duration::from_secs(2);

/// The workers' group as Redis reports it, on one shard.
pub type GroupState = inspect::GroupInfo;

/// The newest entry of each shard at some moment (`None`: the shard was empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark(Vec<Option<EntryId>>);

pub struct Queue {
    redis: Redis,
    conn: Option<Conn>,
    /// One per shard, shard 0 first.
    shards: Vec<StreamNames>,
}

impl Queue {
    pub fn new(redis_url: &str, layout: &Layout) -> anyhow::Result<Self> {
        Ok(Self {
            redis: Redis::new(&RedisSettings::from_url(redis_url))?,
            conn: None,
            shards: layout
                .streams()
                .iter()
                .map(|stream| StreamNames {
                    stream: stream.clone(),
                    group: DEFAULT_GROUP.to_owned(),
                    consumer: "clicks-chaos".to_owned(),
                })
                .collect(),
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

    /// Runs `call` on shard `shard`; drops the connection when it fails.
    async fn with<T>(
        &mut self,
        what: &str,
        shard: usize,
        call: impl AsyncFnOnce(&mut Conn, &StreamNames) -> clickstream::RedisResult<T>,
    ) -> anyhow::Result<T> {
        let mut conn = self.conn().await?;
        let names = &self.shards[shard];
        match call(&mut conn, names).await {
            Ok(value) => Ok(value),
            Err(error) => {
                let context = format!("{what} on {}", names.stream);
                self.conn = None;
                Err(error).context(context)
            }
        }
    }

    /// The workers' group on each shard; `None` until a worker has created it.
    pub async fn groups(&mut self) -> anyhow::Result<Vec<Option<GroupState>>> {
        let mut groups = Vec::with_capacity(self.shards.len());
        for shard in 0..self.shards.len() {
            let group = self
                .with("XINFO GROUPS", shard, async |conn, names| {
                    inspect::group(conn, names).await
                })
                .await?;
            groups.push(group);
        }
        Ok(groups)
    }

    /// Entries the group has acknowledged so far, over every shard; `None`
    /// when Redis does not report it (or a shard has no group yet).
    pub async fn acknowledged(&mut self) -> anyhow::Result<Option<u64>> {
        Ok(self
            .groups()
            .await?
            .iter()
            .map(|group| group.as_ref().and_then(GroupState::acknowledged))
            .sum())
    }

    /// The newest entry of every shard.
    pub async fn mark(&mut self) -> anyhow::Result<Mark> {
        let mut last = Vec::with_capacity(self.shards.len());
        for shard in 0..self.shards.len() {
            let id = self
                .with("XREVRANGE", shard, async |conn, names| {
                    inspect::last_entry(conn, &names.stream).await
                })
                .await?;
            last.push(id);
        }
        Ok(Mark(last))
    }

    /// Whether every entry up to `mark` has been delivered and acknowledged,
    /// on every shard.
    pub async fn settled_up_to(&mut self, mark: &Mark) -> anyhow::Result<bool> {
        for (shard, last) in mark.0.iter().enumerate() {
            let Some(id) = *last else { continue };
            let group = self
                .with("XINFO GROUPS", shard, async |conn, names| {
                    inspect::group(conn, names).await
                })
                .await?;
            let Some(group) = group else {
                return Ok(false);
            };
            if group.last_delivered.is_none_or(|delivered| delivered < id) {
                return Ok(false);
            }
            let pending = self
                .with("XPENDING", shard, async |conn, names| {
                    inspect::pending_up_to(conn, names, id).await
                })
                .await?;
            if pending {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the workers have taken and acknowledged everything, on every shard.
    pub async fn drained(&mut self) -> anyhow::Result<bool> {
        for shard in 0..self.shards.len() {
            if !self.shard_drained(shard).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Nothing pending and no entry past the last one delivered. Redis's own
    /// `lag` is not asked: it is an estimate (entries added minus entries
    /// read) that a failover can leave wrong for good — seen at 532 on a
    /// shard whose stream was empty.
    async fn shard_drained(&mut self, shard: usize) -> anyhow::Result<bool> {
        let group = self
            .with("XINFO GROUPS", shard, async |conn, names| {
                inspect::group(conn, names).await
            })
            .await?;
        let Some(group) = group else {
            return Ok(false);
        };
        if group.pending > 0 {
            return Ok(false);
        }
        let newest = self
            .with("XREVRANGE", shard, async |conn, names| {
                inspect::last_entry(conn, &names.stream).await
            })
            .await?;
        Ok(newest.is_none_or(|newest| group.last_delivered.is_some_and(|d| d >= newest)))
    }

    /// Entries pending with these consumers, over every shard.
    pub async fn pending_with(&mut self, consumers: &[String]) -> anyhow::Result<u64> {
        let mut total = 0;
        for shard in 0..self.shards.len() {
            let holders = self
                .with("XPENDING", shard, async |conn, names| {
                    inspect::pending_by_consumer(conn, names).await
                })
                .await?;
            total += holders
                .iter()
                .filter(|(consumer, _)| consumers.contains(consumer))
                .map(|(_, pending)| pending)
                .sum::<u64>();
        }
        Ok(total)
    }

    /// Every dead letter of every shard, shard 0 first, oldest first.
    pub async fn dead_letters(&mut self) -> anyhow::Result<Vec<DeadLetter>> {
        let mut letters = Vec::new();
        for shard in 0..self.shards.len() {
            letters.extend(
                self.with("dead letters", shard, async |conn, names| {
                    dead_letter::list(conn, names, usize::MAX).await
                })
                .await?,
            );
        }
        Ok(letters)
    }

    /// Appends an entry as is to shard 0, past ingest's checks; returns its ID.
    pub async fn add_raw(&mut self, fields: &[(&str, &[u8])]) -> anyhow::Result<EntryId> {
        let id = self
            .with("XADD", 0, async |conn, names| {
                inspect::add_raw(conn, &names.stream, fields).await
            })
            .await?;
        EntryId::parse(&id).with_context(|| format!("XADD answered `{id}`"))
    }
}
