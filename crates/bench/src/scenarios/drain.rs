//! Scenario `drain`: how fast 1, 2, … workers empty a backlog into MariaDB,
//! and whether the aggregates add up to the stored clicks.
//!
//! The backlog is what `single` and `batch` left, or else a fresh one of
//! `--drain-clicks` appended through clickstream (no ingest involved: only
//! the worker is measured). With `--redis both` it is always the fresh one,
//! so that both topologies drain the same number of clicks.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::cli::RedisMode;
use crate::harness::{Harness, note};
use crate::payload::ClickGen;
use crate::report::{Figure, Row};
use crate::stats::{fmt_rate, per_second};

/// Time allowed to load a fresh backlog (not measured).
const PRELOAD_LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

pub async fn run(h: &mut Harness) -> anyhow::Result<Vec<Row>> {
    h.stop_workers().await;
    if h.args.redis_mode == RedisMode::Both && h.backlog > 0 && h.stopped_workers.is_empty() {
        // No worker has run yet: the stream holds exactly the leftovers.
        let deleted = h.stream()?.delete_all().await?;
        note(format!(
            "drain: {} clicks left by single and batch dropped ({deleted} keys), \
             so that both topologies drain the same fresh backlog",
            h.backlog
        ));
        h.backlog = 0;
    }
    let mut rows = Vec::new();
    let mut backlog_size = h.backlog;
    if backlog_size == 0 {
        backlog_size = load_backlog(h, "d1", h.args.drain_clicks).await?;
    }
    for workers in 1..=h.args.workers_max {
        if workers > 1 {
            h.stop_workers().await;
            h.db()?.truncate().await?;
            h.backlog = 0;
            load_backlog(h, &format!("d{workers}"), backlog_size).await?;
        }
        rows.push(drain_once(h, workers).await?);
    }
    Ok(rows)
}

/// Appends `clicks` clicks to the stream through clickstream; returns how many.
async fn load_backlog(h: &mut Harness, tag: &str, clicks: u64) -> anyhow::Result<u64> {
    note(format!("appending a backlog of {clicks} clicks"));
    let started = Instant::now();
    let mut generator = ClickGen::new(&h.run_id, tag, 0);
    let appended = h
        .stream()?
        .preload(&mut generator, clicks, PRELOAD_LIMIT)
        .await?;
    h.backlog += appended;
    note(format!(
        "appended {appended} clicks in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(appended)
}

async fn drain_once(h: &mut Harness, workers: u64) -> anyhow::Result<Row> {
    let backlog = h.backlog;
    let scenario = format!(
        "drain {workers} worker{}",
        if workers == 1 { "" } else { "s" }
    );
    let expected = h.db()?.clicks_count().await? + backlog;
    note(format!("{scenario}: {backlog} clicks to store"));
    let started = Instant::now();
    h.start_workers(workers, &format!("drain-{workers}w"))
        .await?;
    let limit = h.args.drain_timeout;
    let waited = wait_stored(h, expected, started, limit).await?;
    let (count, sum) = h.db()?.counts().await?;
    let consistent = count == sum;
    let check = if consistent { "OK" } else { "MISMATCH" };
    if !consistent {
        h.problems.push(format!(
            "{scenario}: COUNT(*) {count} ≠ SUM(clicks_count) {sum}"
        ));
    }
    let setup = format!(
        "{workers} × worker, CLICKS_BATCH_SIZE {}, CLICKS_STREAM_SHARDS {}, WORKER_CONCURRENCY {}",
        h.args.worker_batch_size, h.redis.shards, h.args.worker_concurrency
    );
    let json = json!({
        "workers": workers,
        "stream_shards": h.redis.shards,
        "worker_concurrency": h.args.worker_concurrency,
        "backlog": backlog,
        "elapsed_s": waited.map(|d| d.as_secs_f64()),
        "clicks_per_s": waited.map(|d| per_second(backlog, d)),
        "count": count,
        "sum_clicks_count": sum,
        "consistent": consistent,
    });
    let row = match waited {
        Some(elapsed) => {
            h.backlog = 0;
            let rate = per_second(backlog, elapsed);
            let figure = Figure {
                rate,
                unit: "clicks/s",
                p99_ms: None,
            };
            Row::new(&scenario, format!("{} clicks/s", fmt_rate(rate)))
                .figure(figure)
                .notes(format!(
                    "{setup}; {backlog} clicks stored in {:.2} s from worker start; \
                 SUM(clicks_count) {sum} = COUNT(*) {count}: {check}",
                    elapsed.as_secs_f64()
                ))
        }
        None => {
            h.problems.push(format!(
                "{scenario}: only {count} of {expected} clicks stored after {limit:?}"
            ));
            Row::new(&scenario, "TIMEOUT").notes(format!(
                "{setup}; {count} of {expected} clicks stored after {:.0} s; \
                 SUM(clicks_count) {sum} vs COUNT(*) {count}: {check}",
                limit.as_secs_f64()
            ))
        }
    };
    Ok(row.json(json))
}

/// Polls until `expected` clicks are stored; `None` after `limit`.
///
/// Polls the small aggregate table (written in the same transaction as the
/// clicks) and confirms with `COUNT(*)` of `clicks`, which is too costly to
/// run every 100 ms on a table of several hundred thousand rows while the
/// workers are being measured.
pub async fn wait_stored(
    h: &mut Harness,
    expected: u64,
    started: Instant,
    limit: Duration,
) -> anyhow::Result<Option<Duration>> {
    let mut ticks = tokio::time::interval(POLL);
    loop {
        ticks.tick().await;
        h.ensure_running()?;
        let db = h.db()?;
        if db.stats_sum().await? >= expected && db.clicks_count().await? >= expected {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() >= limit {
            return Ok(None);
        }
    }
}

/// Waits, untimed, until the running workers have stored the backlog on top
/// of the `already_stored` clicks counted before they started.
pub async fn drain_leftovers(h: &mut Harness, already_stored: u64) -> anyhow::Result<()> {
    if h.backlog == 0 {
        return Ok(());
    }
    let expected = already_stored + h.backlog;
    let limit = h.args.drain_timeout;
    if wait_stored(h, expected, Instant::now(), limit)
        .await?
        .is_none()
    {
        bail!(
            "the backlog of {} clicks was not stored within {limit:?}",
            h.backlog
        );
    }
    h.backlog = 0;
    Ok(())
}
