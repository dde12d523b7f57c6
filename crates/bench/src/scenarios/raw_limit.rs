//! The raw insert limit the drain is measured against: the same clicks, in
//! multi-row `INSERT IGNORE`s of `CLICKS_BATCH_SIZE` rows on one connection,
//! into a table of the same shape as `clicks` (`CREATE TABLE … LIKE`) with no
//! aggregates, no stream and no worker. The drain's ratio to it is what the
//! aggregates, Redis and the worker cost; MariaDB's own CPU time per 100,000
//! clicks says how much of that is the database's.

use std::time::{Duration, Instant};

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

/// Inserts again the `clicks` clicks that `ClickGen::new(run, tag, 0)` made
/// for the backlog, `rows` per statement.
pub async fn measure(
    h: &mut Harness,
    tag: &str,
    clicks: u64,
    rows: usize,
) -> anyhow::Result<RawLimit> {
    let mut generator = ClickGen::new(&h.run_id, tag, 0);
    let mut buf = bytes::BytesMut::new();
    let mut all = Vec::with_capacity(clicks as usize);
    while (all.len() as u64) < clicks {
        let count = GENERATED_BATCH.min(clicks - all.len() as u64);
        all.extend(generator.clicks(count, &mut buf)?);
    }
    let db = h.db()?;
    let server = db.server_process().await;
    db.create_raw_table().await?;
    let cpu_before = server.as_ref().and_then(ServerProcess::cpu_seconds);
    let started = Instant::now();
    let inserted = db.insert_raw(&all, rows.max(1)).await;
    let elapsed = started.elapsed();
    let cpu_after = server.as_ref().and_then(ServerProcess::cpu_seconds);
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

/// The database server's process, on this machine (the bench only talks to
/// loopback servers).
pub struct ServerProcess {
    pub pid: u32,
}

/// `/proc` counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

impl ServerProcess {
    /// User plus system CPU seconds the process has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        cpu_ticks(&stat).map(|ticks| ticks as f64 / TICKS_PER_SECOND)
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15; the command
/// name in parentheses may hold spaces, so count from its closing one).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU seconds per 100,000 clicks.
pub fn per_100k(cpu_seconds: f64, clicks: u64) -> f64 {
    cpu_seconds * 100_000.0 / clicks.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat =
            "4242 (mariadbd (x) y) S 1 4242 4242 0 -1 4194560 123 0 0 0 750 250 0 0 20 0 30 0";
        assert_eq!(cpu_ticks(stat), Some(1000));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        let me = ServerProcess {
            pid: std::process::id(),
        };
        assert!(me.cpu_seconds().is_some());
    }

    #[test]
    fn cpu_is_scaled_to_100k_clicks() {
        assert!((per_100k(1.7, 200_000) - 0.85).abs() < 1e-9);
    }
}
