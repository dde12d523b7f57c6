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
use crate::cpu::Process;
use crate::harness::{Harness, note};
use crate::payload::ClickGen;
use crate::report::{Figure, Row};
use crate::scenarios::raw_limit::{self, RawLimit};
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
    // Clicks the bench generated itself can be generated again for the raw limit.
    let mut fresh = false;
    if backlog_size == 0 {
        backlog_size = load_backlog(h, "d1", h.args.drain_clicks).await?;
        fresh = true;
    }
    for workers in 1..=h.args.workers_max {
        if workers > 1 {
            h.stop_workers().await;
            h.db()?.truncate().await?;
            h.backlog = 0;
            load_backlog(h, &format!("d{workers}"), backlog_size).await?;
        }
        let (mut row, drain) = drain_once(h, workers).await?;
        if workers == 1 && fresh {
            h.stop_workers().await;
            if let Some(drain) = drain {
                let raw =
                    raw_limit::measure(h, "d1", backlog_size, h.args.worker_batch_size as usize)
                        .await?;
                row.notes.push_str(&compare_with_raw(&drain, &raw));
                rows.push(row);
                rows.push(raw_row(&raw, h.args.worker_batch_size));
                continue;
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// What a drain took: its time, and MariaDB's and the workers' CPU seconds.
struct Drained {
    elapsed: Duration,
    server_cpu_seconds: Option<f64>,
    worker_cpu_seconds: Option<f64>,
}

/// The drain against the raw limit: its ratio, and MariaDB CPU per 100k
/// clicks of both, each over the same clicks sent (resends included).
fn compare_with_raw(drain: &Drained, raw: &RawLimit) -> String {
    let rate = per_second(raw.clicks, drain.elapsed);
    let mut text = format!(
        "; {:.2} × the raw insert limit",
        rate / raw.clicks_per_second()
    );
    if let (Some(drain_cpu), Some(raw_cpu)) = (drain.server_cpu_seconds, raw.server_cpu_seconds) {
        text.push_str(&format!(
            "; MariaDB {:.2} CPU-s per 100k clicks (raw insert: {:.2})",
            raw_limit::per_100k(drain_cpu, raw.clicks),
            raw_limit::per_100k(raw_cpu, raw.clicks)
        ));
    }
    if let Some(worker_cpu) = drain.worker_cpu_seconds {
        text.push_str(&format!(
            "; workers {:.2} CPU-s per 100k clicks",
            raw_limit::per_100k(worker_cpu, raw.clicks)
        ));
    }
    text
}

fn raw_row(raw: &RawLimit, rows: u64) -> Row {
    let rate = raw.clicks_per_second();
    let cpu = raw.server_cpu_seconds.map_or_else(
        || "MariaDB CPU unknown".to_owned(),
        |cpu| {
            format!(
                "MariaDB {:.2} CPU-s per 100k clicks",
                raw_limit::per_100k(cpu, raw.clicks)
            )
        },
    );
    Row::new("raw insert limit", format!("{} clicks/s", fmt_rate(rate)))
        .figure(Figure {
            rate,
            unit: "clicks/s",
            p99_ms: None,
        })
        .notes(format!(
            "the drain's clicks again, INSERT IGNORE of {rows} rows per statement on one \
             connection into a table shaped like clicks, no aggregates; {} clicks in {:.2} s; {cpu}",
            raw.clicks,
            raw.elapsed.as_secs_f64()
        ))
        .json(json!({
            "clicks": raw.clicks,
            "elapsed_s": raw.elapsed.as_secs_f64(),
            "clicks_per_s": rate,
            "server_cpu_s": raw.server_cpu_seconds,
        }))
}

/// Appends `clicks` clicks to the stream through clickstream; returns how many.
/// With `--traffic realistic` some of them resend earlier ones: the backlog
/// to store is the distinct clicks.
async fn load_backlog(h: &mut Harness, tag: &str, clicks: u64) -> anyhow::Result<u64> {
    note(format!(
        "appending a backlog of {clicks} clicks ({:?} traffic)",
        h.args.traffic
    ));
    let started = Instant::now();
    let mut generator = ClickGen::new(&h.run_id, tag, 0)
        .with_traffic(h.args.traffic)
        .with_ids(h.args.ids);
    let appended = h
        .stream()?
        .preload(&mut generator, clicks, h.pack_compression()?, PRELOAD_LIMIT)
        .await?;
    h.backlog += appended - generator.resends();
    note(format!(
        "appended {appended} clicks ({} of them resends) in {:.1} s",
        generator.resends(),
        started.elapsed().as_secs_f64()
    ));
    Ok(appended)
}

async fn drain_once(h: &mut Harness, workers: u64) -> anyhow::Result<(Row, Option<Drained>)> {
    let backlog = h.backlog;
    let scenario = format!(
        "drain {workers} worker{}",
        if workers == 1 { "" } else { "s" }
    );
    let expected = h.db()?.clicks_count().await? + backlog;
    note(format!("{scenario}: {backlog} clicks to store"));
    let server = h.db()?.server_process().await;
    let cpu_before = server.as_ref().and_then(Process::cpu_seconds);
    let started = Instant::now();
    h.start_workers(workers, &format!("drain-{workers}w"))
        .await?;
    let limit = h.args.drain_timeout;
    let waited = wait_stored(h, expected, started, limit).await?;
    let cpu_after = server.as_ref().and_then(Process::cpu_seconds);
    let worker_cpu_seconds = h.workers_cpu_seconds();
    let drained = waited.map(|elapsed| Drained {
        elapsed,
        server_cpu_seconds: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
        worker_cpu_seconds,
    });
    let (count, sum) = h.db()?.counts().await?;
    let consistent = count == sum;
    let check = if consistent { "OK" } else { "MISMATCH" };
    if !consistent {
        h.problems.push(format!(
            "{scenario}: COUNT(*) {count} ≠ SUM(clicks_count) {sum}"
        ));
    }
    let setup = format!(
        "{workers} × worker, CLICKS_BATCH_SIZE {}, CLICKS_STREAM_SHARDS {}, WORKER_CONCURRENCY {}, {:?} traffic",
        h.args.worker_batch_size, h.redis.shards, h.args.worker_concurrency, h.args.traffic
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
    Ok((row.json(json), drained))
}

/// Polls until `expected` clicks are stored; `None` after `limit`.
///
/// Polls the smallest aggregate, the per-source rollup (a row per date and
/// source; the workers' folds bring it up to the stored clicks, so a drain
/// ends only once its clicks are counted too), and confirms with `COUNT(*)`
/// of `clicks`, which is too costly to run every 100 ms on a table of several
/// hundred thousand rows while the workers are being measured. Summing the
/// daily aggregate instead (thousands of rows) took about 7% of MariaDB's
/// CPU during a drain: load of the measurement's own, which the raw insert
/// limit it is compared with does not carry.
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
        if db.counted_total().await? >= expected && db.clicks_count().await? >= expected {
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
