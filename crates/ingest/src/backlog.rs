//! Backpressure: how far the workers are behind, watched in the background.
//!
//! Every [`POLL_EVERY`] one task asks Redis for each consumer group's lag
//! (entries not yet delivered) plus pending (delivered, not acknowledged) on
//! each shard of the stream, and keeps the sum of the largest as the backlog
//! (`clickstream::backlog`; shards that do not answer are left out and
//! counted, so a cluster master that is down stops only its own shards). Webhooks then read an
//! atomic: no Redis round trip per request.
//!
//! The backlog is kept in clicks: entries times the clicks per entry this
//! ingest has been writing lately (`clickstream::enqueue::PackRatio`; 1 when
//! requests come one at a time, up to a pack's size under load), so
//! `STREAM_MAX_BACKLOG` bounds Redis's memory whatever the packing.
//!
//! - backlog ≥ `STREAM_MAX_BACKLOG`, or Redis unreachable: webhooks get 503
//!   with `Retry-After`, so nothing grows without bound;
//! - backlog ≥ [`READY_FRACTION`] of it: `/readyz` turns false first, so a
//!   load balancer moves traffic before senders see 503s.
//!
//! Both recover by themselves when the backlog drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use clickstream::Conn;
use clickstream::enqueue::PackRatio;
use tokio_util::sync::CancellationToken;

/// How often the backlog is measured.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// Readiness turns false at this share of the limit.
pub const READY_FRACTION: f64 = 0.8;
/// Stored in the atomic while Redis cannot be asked.
const UNKNOWN: u64 = u64::MAX;

/// What a webhook may do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Accept,
    /// The workers are this far behind.
    Overloaded(u64),
    RedisUnavailable,
}

/// The latest measurement, shared with the handlers.
#[derive(Debug, Clone)]
pub struct Backlog {
    latest: Arc<AtomicU64>,
    /// Shards whose backlog could not be measured last time (a cluster
    /// master down): their clicks get 503 from the enqueue, the others go on.
    shards_unanswered: Arc<AtomicUsize>,
    /// 0: no limit.
    max: u64,
}

impl Backlog {
    /// A monitor that admits everything and never polls (limit 0).
    pub fn unlimited() -> Self {
        Self {
            latest: Arc::new(AtomicU64::new(0)),
            shards_unanswered: Arc::new(AtomicUsize::new(0)),
            max: 0,
        }
    }

    /// Starts polling the stream (all its shard keys, summed) until
    /// `shutdown`; `max` 0 turns the limit off (the backlog is still measured
    /// for health).
    pub fn start(
        redis: Conn,
        streams: Vec<String>,
        pack_ratio: PackRatio,
        max: u64,
        shutdown: CancellationToken,
    ) -> Self {
        let backlog = Self {
            latest: Arc::new(AtomicU64::new(0)),
            shards_unanswered: Arc::new(AtomicUsize::new(0)),
            max,
        };
        let latest = Arc::clone(&backlog.latest);
        let shards_unanswered = Arc::clone(&backlog.shards_unanswered);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = shutdown.cancelled() => break,
                }
                let measured =
                    clickstream::backlog::measure(&redis, &streams, POLL_EVERY * 4).await;
                let (value, unanswered) = match measured {
                    Ok(measured) => (
                        (measured.entries as f64 * pack_ratio.get()) as u64,
                        measured.unanswered,
                    ),
                    Err(error) => {
                        tracing::debug!(%error, "cannot measure the stream backlog");
                        (UNKNOWN, streams.len())
                    }
                };
                latest.store(value, Ordering::Relaxed);
                shards_unanswered.store(unanswered, Ordering::Relaxed);
            }
        });
        backlog
    }

    /// The last measured backlog; `None` while Redis could not be asked.
    pub fn current(&self) -> Option<u64> {
        let value = self.latest.load(Ordering::Relaxed);
        (value != UNKNOWN).then_some(value)
    }

    /// Shards that did not answer the last measurement.
    pub fn shards_unanswered(&self) -> usize {
        self.shards_unanswered.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn admission(&self) -> Admission {
        decide(self.current(), self.max, 1.0)
    }

    /// Whether this instance should receive traffic.
    pub fn ready(&self) -> bool {
        decide(self.current(), self.max, READY_FRACTION) == Admission::Accept
    }
}

/// The rule, kept pure so it can be tested without Redis.
fn decide(backlog: Option<u64>, max: u64, fraction: f64) -> Admission {
    match backlog {
        None => Admission::RedisUnavailable,
        Some(backlog) if max > 0 && backlog as f64 >= max as f64 * fraction => {
            Admission::Overloaded(backlog)
        }
        Some(_) => Admission::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_rejects_and_readiness_turns_first() {
        assert_eq!(decide(Some(10), 0, 1.0), Admission::Accept, "0 is no limit");
        assert_eq!(decide(Some(799), 1000, READY_FRACTION), Admission::Accept);
        assert_eq!(
            decide(Some(800), 1000, READY_FRACTION),
            Admission::Overloaded(800)
        );
        assert_eq!(decide(Some(800), 1000, 1.0), Admission::Accept);
        assert_eq!(decide(Some(1000), 1000, 1.0), Admission::Overloaded(1000));
        assert_eq!(decide(None, 1000, 1.0), Admission::RedisUnavailable);
        assert_eq!(decide(None, 0, 1.0), Admission::RedisUnavailable);
    }
}
