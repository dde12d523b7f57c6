//! Storing a batch's clicks: in parts of `batch_size`, each one exactly-once
//! transaction of [`storage::clicks::store_batch`], retried until it commits;
//! clicks MySQL refuses are found one by one and set aside.

use domain::StreamClick;
use sea_orm::DbErr;
use storage::clicks::{self, Stored};
use storage::errors;

use super::{BACKOFF_MIN, Batch, Lane, next_delay};

impl Lane {
    /// Commits the batch's clicks, at most `batch_size` per transaction,
    /// retrying transient failures with backoff. `None` when shutdown
    /// interrupted the retries (nothing acknowledged). A read of packed
    /// entries can hold more than `batch_size` clicks; every part is
    /// committed before any entry is acknowledged, and a part committed
    /// before a crash is absorbed by exactly-once storage when redelivered.
    pub async fn store(&mut self, batch: &mut Batch) -> anyhow::Result<Option<Stored>> {
        let mut total = Stored::default();
        let size = self.options.batch_size.max(1);
        let mut start = 0;
        while start < batch.clicks.len() {
            let part = start..(start + size).min(batch.clicks.len());
            let clicks: Vec<&StreamClick> = batch.clicks[part.clone()].iter().collect();
            let stored = match self.store_with_retry(&clicks).await {
                Ok(stored) => stored,
                Err(error) => {
                    // MySQL refused some click's data. Store the clicks one by
                    // one so only the culprits are set aside.
                    tracing::error!(%error, "batch refused; storing its clicks one at a time");
                    self.store_one_by_one(batch, part.clone()).await?
                }
            };
            let Some(stored) = stored else {
                return Ok(None);
            };
            total.inserted += stored.inserted;
            total.duplicates += stored.duplicates;
            start = part.end;
        }
        Ok(Some(total))
    }

    /// Retries every failure except MySQL refusing the data itself, which
    /// comes back as `Err`. Anything else — deadlocks, lost connections, but
    /// also a missing table or revoked grant — is retried with backoff and
    /// nothing is acknowledged meanwhile: clicks must not be dead-lettered
    /// because the database is misconfigured. `Ok(None)` on shutdown.
    async fn store_with_retry(&self, clicks: &[&StreamClick]) -> Result<Option<Stored>, DbErr> {
        let mut delay = BACKOFF_MIN;
        loop {
            match clicks::store_batch(&self.db, clicks).await {
                Ok(stored) => return Ok(Some(stored)),
                Err(error) if errors::is_data_error(&error) => return Err(error),
                Err(error) => {
                    let retry_in_ms = delay.as_millis() as u64;
                    if errors::is_transient(&error) {
                        tracing::warn!(%error, retry_in_ms, "transient MySQL error; retrying the batch");
                    } else {
                        tracing::error!(%error, retry_in_ms, "MySQL error; retrying the batch");
                    }
                    if !self.pause(delay).await {
                        return Ok(None);
                    }
                    delay = next_delay(delay);
                }
            }
        }
    }

    /// Stores the clicks of `part` one transaction each, setting aside
    /// those MySQL refuses: the fallback when it refuses a whole part.
    async fn store_one_by_one(
        &mut self,
        batch: &mut Batch,
        part: std::ops::Range<usize>,
    ) -> anyhow::Result<Option<Stored>> {
        let mut total = Stored::default();
        for index in part {
            let click = &batch.clicks[index];
            match self.store_with_retry(&[click]).await {
                Ok(Some(stored)) => {
                    total.inserted += stored.inserted;
                    total.duplicates += stored.duplicates;
                }
                Ok(None) => return Ok(None),
                Err(error) => {
                    let values = click.values();
                    let origin = batch.origins[index];
                    batch.set_aside_click(origin, &values, format!("rejected by MySQL: {error}"));
                }
            }
        }
        Ok(Some(total))
    }
}
