//! Reading the next entries: this consumer's own pending entries first
//! (after a restart), then entries abandoned by dead consumers when due,
//! then new entries, about `batch_size` clicks' worth at a time.

use std::time::{Duration, Instant};

use clickstream::RawEntry;
use clickstream::consumer as stream;

use super::{Batch, Lane, REDIS_TIMEOUT};

/// How often the worker looks for entries abandoned by dead consumers.
const CLAIM_EVERY: Duration = Duration::from_secs(5);

/// Where the next entries come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Re-reading this consumer's own pending entries after the given ID.
    OwnPending(String),
    /// New entries.
    New,
}

impl Lane {
    /// The next batch: own pending entries first (after a restart), then
    /// entries abandoned by dead consumers when due, then new entries.
    pub async fn read_batch(&mut self) -> anyhow::Result<Option<Batch>> {
        let (mut entries, redelivered) = self.read_entries().await?;
        if entries.is_empty() {
            return Ok(None);
        }
        if redelivered {
            let mut conn = self.control.clone();
            stream::load_delivery_counts(&mut conn, &self.options.names, &mut entries).await?;
        }
        let batch = Batch::decode(entries, &self.options);
        let clicks = (batch.clicks.len() + batch.rejected.len()) as f64;
        let observed = clicks / batch.entries.len() as f64;
        self.clicks_per_entry = (self.clicks_per_entry + observed) / 2.0;
        Ok(Some(batch))
    }

    /// Entries to ask for: as many as `batch_size` clicks hold at the recent
    /// clicks per entry (rounded down, so a read of typical entries is one
    /// transaction, not a full one and a sliver), at least one.
    /// [`store`](Self::store) commits any overshoot in parts of `batch_size`.
    fn read_count(&self) -> usize {
        let entries = self.options.batch_size as f64 / self.clicks_per_entry.max(1.0);
        (entries.floor() as usize).clamp(1, self.options.batch_size.max(1))
    }

    /// Entries to process, and whether they may have been delivered before
    /// (then their delivery counts must be looked up).
    async fn read_entries(&mut self) -> anyhow::Result<(Vec<RawEntry>, bool)> {
        let count = self.read_count();
        if let Some(entries) = self.read_own_pending(count).await? {
            return Ok((entries, true));
        }
        if Instant::now() >= self.next_claim {
            let claimed = self.claim_abandoned(count).await?;
            if !claimed.is_empty() {
                return Ok((claimed, true));
            }
        }
        Ok((self.read_new(count).await?, false))
    }

    /// The next of this consumer's own pending entries, while re-reading
    /// them after a start; `None` once they are all read (for good).
    async fn read_own_pending(&mut self, count: usize) -> anyhow::Result<Option<Vec<RawEntry>>> {
        let Phase::OwnPending(after) = &self.phase else {
            return Ok(None);
        };
        let after = after.clone();
        let mut conn = self.control.clone();
        let entries = self
            .with_group(stream::read_group(
                &mut conn,
                &self.options.names,
                &after,
                count,
                None,
            ))
            .await?;
        match entries.last() {
            Some(last) => {
                self.phase = Phase::OwnPending(last.id.clone());
                Ok(Some(entries))
            }
            None => {
                self.phase = Phase::New;
                Ok(None)
            }
        }
    }

    /// Entries other consumers left pending longer than `claim_idle`, taken
    /// over; after a full pass, the next comes [`CLAIM_EVERY`] later.
    async fn claim_abandoned(&mut self, count: usize) -> anyhow::Result<Vec<RawEntry>> {
        let mut conn = self.control.clone();
        let (claimed, next) = self
            .with_group(stream::autoclaim(
                &mut conn,
                &self.options.names,
                self.options.claim_idle,
                &self.claim_cursor,
                count,
            ))
            .await?;
        if next == "0-0" {
            self.next_claim = Instant::now() + CLAIM_EVERY;
        }
        self.claim_cursor = next;
        if !claimed.is_empty() {
            tracing::info!(
                entries = claimed.len(),
                "claimed entries left pending by another consumer"
            );
        }
        Ok(claimed)
    }

    async fn read_new(&mut self, count: usize) -> anyhow::Result<Vec<RawEntry>> {
        let block = self.options.block;
        let reader = match self.reader.take() {
            Some(reader) => reader,
            None => self.redis.dedicated(block + REDIS_TIMEOUT).await?,
        };
        let mut conn = reader;
        let names = self.options.names.clone();
        let read = tokio::select! {
            read = stream::read_group(&mut conn, &names, ">", count, Some(block)) => read,
            () = self.shutdown.cancelled() => return Ok(Vec::new()),
        };
        match read {
            Ok(entries) => {
                self.reader = Some(conn);
                Ok(entries)
            }
            Err(error) if stream::is_missing_group(&error) => {
                self.reader = Some(conn);
                self.recreate_group().await?;
                Ok(Vec::new())
            }
            // The connection is dropped; the next read opens a fresh one.
            Err(error) => Err(error.into()),
        }
    }

    async fn with_group<T>(
        &self,
        call: impl Future<Output = clickstream::RedisResult<T>>,
    ) -> anyhow::Result<T> {
        match call.await {
            Err(error) if stream::is_missing_group(&error) => {
                self.recreate_group().await?;
                Err(error.into())
            }
            other => Ok(other?),
        }
    }

    async fn recreate_group(&self) -> anyhow::Result<()> {
        tracing::warn!(stream = %self.options.names.stream, "consumer group missing; creating it again");
        let mut conn = self.control.clone();
        stream::ensure_group(&mut conn, &self.options.names).await?;
        Ok(())
    }
}
