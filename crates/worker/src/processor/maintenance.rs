//! Upkeep between batches, every [`MAINTENANCE_EVERY`]: trimming what every
//! group has acknowledged, the backlog gauges, forgetting departed consumers.

use std::time::{Duration, Instant};

use clickstream::consumer as stream;

use super::{Lane, MAINTENANCE_EVERY, STREAM_LAG, STREAM_PENDING};

/// Consumers holding nothing and idle this long are forgotten.
const FORGET_CONSUMERS_AFTER: Duration = Duration::from_secs(3600);

impl Lane {
    /// Trims what every group has acknowledged and forgets departed consumers.
    pub(super) async fn maintain(&mut self) {
        if Instant::now() < self.next_maintenance {
            return;
        }
        self.next_maintenance = Instant::now() + MAINTENANCE_EVERY;
        if let Err(error) = self.try_maintain().await {
            tracing::warn!(%error, "stream maintenance failed; will try again");
        }
    }

    async fn try_maintain(&self) -> anyhow::Result<()> {
        self.trim_acknowledged().await?;
        self.record_progress().await?;
        let mut conn = self.control.clone();
        stream::forget_idle_consumers(&mut conn, &self.options.names, FORGET_CONSUMERS_AFTER)
            .await?;
        Ok(())
    }

    /// Sets the `stream_lag` and `stream_pending` gauges of this shard, in clicks.
    pub(super) async fn record_progress(&self) -> anyhow::Result<()> {
        let mut conn = self.control.clone();
        if let Some((lag, pending)) = stream::group_progress(&mut conn, &self.options.names).await?
        {
            let stream = self.options.names.stream.clone();
            let clicks = |entries: u64| (entries as f64 * self.clicks_per_entry).round();
            if let Some(lag) = lag {
                metrics::gauge!(STREAM_LAG, "stream" => stream.clone()).set(clicks(lag));
            }
            metrics::gauge!(STREAM_PENDING, "stream" => stream).set(clicks(pending));
        }
        Ok(())
    }

    /// Trims the entries every group has acknowledged; returns how many went.
    pub async fn trim_acknowledged(&self) -> anyhow::Result<u64> {
        let mut conn = self.control.clone();
        let stream = &self.options.names.stream;
        let Some(point) = stream::safe_trim_point(&mut conn, stream).await? else {
            return Ok(0);
        };
        let trimmed = stream::trim_below(&mut conn, stream, &point).await?;
        if trimmed > 0 {
            tracing::debug!(trimmed, below = %point, "trimmed acknowledged entries");
        }
        Ok(trimmed)
    }
}
