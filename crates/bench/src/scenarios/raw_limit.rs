//! The raw insert limit the drain is measured against: the same clicks, in
//! multi-row `INSERT IGNORE`s of `CLICKS_BATCH_SIZE` rows on one connection,
//! into a table of the same shape as `clicks` (`CREATE TABLE … LIKE`) with no
//! aggregates, no stream and no worker. The drain's ratio to it is what the
//! aggregates, Redis and the worker cost; MariaDB's own CPU time per 100,000
//! clicks says how much of that is the database's.

use std::time::{Duration, Instant};

use crate::cpu::Process;
use crate::harness::Harness;
use crate::payload::ClickGen;

/// Clicks generated per call (the batch webhook's most).
const GENERATED_BATCH: u64 = 1000;

/// What inserting the clicks alone took.
pub struct RawLimit {
    pub clicks: u64,
    pub elapsed: Duration,
    /// MariaDB's CPU seconds over the run; `None` when its process cannot be read.
    pub server_cpu_seconds: Option<f64>,
}

impl RawLimit {
    pub fn clicks_per_second(&self) -> f64 {
        self.clicks as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Inserts again the `clicks` clicks that `ClickGen::new(run, tag, 0)`, with
/// the run's `--traffic` and `--ids`, made for the backlog, `rows` per statement.
pub async fn measure(
    h: &mut Harness,
    tag: &str,
    clicks: u64,
    rows: usize,
) -> anyhow::Result<RawLimit> {
    let mut generator = ClickGen::new(&h.run_id, tag, 0)
        .with_traffic(h.args.traffic)
        .with_ids(h.args.ids);
    let mut buf = bytes::BytesMut::new();
    let mut all = Vec::with_capacity(clicks as usize);
    while (all.len() as u64) < clicks {
        let count = GENERATED_BATCH.min(clicks - all.len() as u64);
        all.extend(generator.clicks(count, &mut buf)?);
    }
    let db = h.db()?;
    let server = db.server_process().await;
    db.create_raw_table().await?;
    let cpu_before = server.as_ref().and_then(Process::cpu_seconds);
    let started = Instant::now();
    let inserted = db.insert_raw(&all, rows.max(1)).await;
    let elapsed = started.elapsed();
    let cpu_after = server.as_ref().and_then(Process::cpu_seconds);
    db.drop_raw_table().await?;
    inserted?;
    Ok(RawLimit {
        clicks,
        elapsed,
        server_cpu_seconds: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
    })
}

/// CPU seconds per 100,000 clicks.
pub fn per_100k(cpu_seconds: f64, clicks: u64) -> f64 {
    cpu_seconds * 100_000.0 / clicks.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_scaled_to_100k_clicks() {
        assert!((per_100k(1.7, 200_000) - 0.85).abs() < 1e-9);
    }
}
