//! Acknowledging a batch: its set-aside entries go to the dead-letter
//! stream first, then every entry of the batch is `XACK`ed.

use clickstream::RawEntry;
use clickstream::consumer as stream;
use storage::clicks::Stored;

use super::{BACKOFF_MIN, Batch, BatchReport, Lane, next_delay};

impl Lane {
    /// Moves set-aside entries to the dead-letter stream, then acknowledges
    /// the whole batch. Retries Redis errors; entries it cannot acknowledge
    /// stay pending and are re-read later, which stores nothing twice.
    pub async fn acknowledge(
        &mut self,
        batch: &Batch,
        stored: Stored,
    ) -> anyhow::Result<BatchReport> {
        let dead: Vec<(&RawEntry, String)> = batch
            .rejected
            .iter()
            .map(|(entry, reason)| (entry, reason.clone()))
            .collect();
        for (entry, reason) in &dead {
            tracing::warn!(entry_id = %entry.id, %reason, "entry moved to the dead-letter stream");
        }
        let ids: Vec<&str> = batch.entries.iter().map(|e| e.id.as_str()).collect();
        let mut delay = BACKOFF_MIN;
        loop {
            let attempt = async {
                let mut conn = self.control.clone();
                stream::dead_letter(&mut conn, &self.options.names, &dead).await?;
                stream::ack(&mut conn, &self.options.names, &ids).await?;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot acknowledge the batch yet; retrying");
                    if !self.pause(delay).await {
                        anyhow::bail!("shutdown before the batch was acknowledged: {error}");
                    }
                    delay = next_delay(delay);
                }
            }
        }
        Ok(BatchReport {
            entries: batch.entries.len(),
            inserted: stored.inserted,
            duplicates: stored.duplicates,
            dead_lettered: dead.len(),
        })
    }
}
