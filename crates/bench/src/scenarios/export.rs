//! Scenario `export`: the release `reporting-api export --date D` sending a
//! day of `--export-clicks` clicks (1,000,000 by default) to a fake Finance
//! inside this process. Reports clicks per second from process start to
//! exit, and the exporter's peak RSS. The day is loaded straight into
//! `clicks` with multi-row `INSERT`s (not measured), on a date no other
//! scenario uses.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Harness, note};
use crate::report::Row;
use crate::stats::{fmt_rate, per_second};

/// The exported day: far from any date the other scenarios send.
const DATE: &str = "2001-02-03";
/// Rows per `INSERT` while loading the day.
const ROWS_PER_INSERT: u64 = 5000;
/// Loading connections.
const LOADERS: u64 = 2;
const RSS_POLL: Duration = Duration::from_millis(20);

/// What the fake Finance received.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    clicks: AtomicU64,
    /// Bodies that were not a contract: Export to Finance payload of the day.
    bad: AtomicU64,
}

pub async fn run(h: &mut Harness) -> anyhow::Result<Vec<Row>> {
    let clicks = h.args.export_clicks;
    let bin_dir = std::fs::canonicalize(&h.args.bin_dir).context("--bin-dir")?;
    let program = bin_dir.join("reporting-api");
    if !program.is_file() {
        bail!(
            "{} is missing (cargo build --release --bins)",
            program.display()
        );
    }
    let db_url = h.db()?.url.clone();
    let db = connect(&db_url).await?;
    let started = Instant::now();
    load_day(&db, &h.run_id, clicks).await?;
    note(format!(
        "export: loaded {clicks} clicks of {DATE} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let tally = Arc::new(Tally::default());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("fake Finance")?;
    let finance = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, Arc::clone(&tally)));

    let work_dir = std::env::temp_dir().join(format!("clicks-bench-export-{}", h.run_id));
    std::fs::create_dir_all(&work_dir)?;
    let outcome = run_export(
        &program,
        &work_dir,
        &db_url,
        &format!("http://{finance}"),
        &h.args.child_log,
        h.args.export_timeout,
    )
    .await;
    server.abort();
    let (elapsed, peak_rss_mb, success) = outcome?;
    let received = tally.clicks.load(Ordering::Relaxed);
    let requests = tally.requests.load(Ordering::Relaxed);
    let bad = tally.bad.load(Ordering::Relaxed);
    if !success || received != clicks || bad > 0 {
        let log = crate::procs::log_tail(&work_dir.join("export.log"), 15);
        h.problems.push(format!(
            "export: exit {success}, Finance received {received} of {clicks} clicks ({bad} bad bodies)"
        ));
        note(format!("export log:\n{log}"));
    } else {
        std::fs::remove_dir_all(&work_dir).ok();
    }
    if let Ok(date) = DATE.parse() {
        storage::inspect::delete_clicks_of(&db, date).await.ok();
    }
    let rate = per_second(clicks, elapsed);
    let json = json!({
        "clicks": clicks,
        "elapsed_s": elapsed.as_secs_f64(),
        "clicks_per_s": rate,
        "requests": requests,
        "received_clicks": received,
        "peak_rss_mb": peak_rss_mb,
    });
    Ok(vec![
        Row::new("export", format!("{} clicks/s", fmt_rate(rate)))
            .notes(format!(
                "reporting-api export --date {DATE}: {clicks} clicks in {:.2} s, {requests} requests \
                 (FINANCE_EXPORT_CHUNK_SIZE default), Finance received {received}; target ≥ 100,000 clicks/s",
                elapsed.as_secs_f64()
            ))
            .json(json),
        Row::new(
            "rss reporting-api export",
            peak_rss_mb.map_or("-".to_owned(), |mb| format!("{mb:.1} MB")),
        )
        .notes("VmHWM of the export process; target ≤ 100 MB")
        .json(json!({"process": "reporting-api export", "peak_rss_mb": peak_rss_mb})),
    ])
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(LOADERS as u32).sqlx_logging(false);
    Database::connect(options)
        .await
        .context("connect to the bench database")
}

/// `clicks` rows of `DATE`, `LOADERS` connections each inserting every
/// `LOADERS`-th block.
async fn load_day(db: &DatabaseConnection, run_id: &str, clicks: u64) -> anyhow::Result<()> {
    let blocks = clicks.div_ceil(ROWS_PER_INSERT);
    let mut loaders = tokio::task::JoinSet::new();
    for loader in 0..LOADERS {
        let db = db.clone();
        let run_id = run_id.to_owned();
        loaders.spawn(async move {
            let mut block = loader;
            while block < blocks {
                let first = block * ROWS_PER_INSERT;
                let last = (first + ROWS_PER_INSERT).min(clicks);
                let part = day_clicks(&run_id, first, last)?;
                storage::inspect::load_uncounted_clicks(&db, &part, part.len())
                    .await
                    .context("load the export day")?;
                block += LOADERS;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = loaders.join_next().await {
        result.context("loader task")??;
    }
    Ok(())
}

/// Clicks `first..last` of `DATE`: 50 offers, 10 sources, spread over the
/// day's seconds.
fn day_clicks(run_id: &str, first: u64, last: u64) -> anyhow::Result<Vec<domain::Click>> {
    let midnight = DATE
        .parse::<chrono::NaiveDate>()
        .context("the export date")?
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    (first..last)
        .map(|n| {
            let at = midnight
                + chrono::Duration::seconds((n % 86_400) as i64)
                + chrono::Duration::microseconds((n % 1_000_000) as i64);
            Ok(domain::Click {
                click_id: format!("export-{run_id}-{n}"),
                offer_id: domain::OfferId::new(1 + n % 50).context("offer id")?,
                source: format!("network_{}", n % 10),
                timestamp: at,
                signature: format!("sha256=bench-signature-{n}"),
            })
        })
        .collect()
}

/// Starts the exporter, samples its peak RSS until it exits; `(elapsed,
/// peak RSS in MB, exited 0)`.
async fn run_export(
    program: &Path,
    work_dir: &Path,
    db_url: &str,
    finance_url: &str,
    log_level: &str,
    limit: Duration,
) -> anyhow::Result<(Duration, Option<f64>, bool)> {
    let log = std::fs::File::create(work_dir.join("export.log"))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(["export", "--date", DATE])
        .env("DATABASE_URL", db_url)
        .env("FINANCE_SERVICE_URL", finance_url)
        .env("RUST_LOG", log_level)
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    let pid = child.id().context("exporter pid")?;
    let mut peak: Option<f64> = None;
    loop {
        if let Some(mb) = vm_hwm_mb(pid) {
            peak = Some(peak.map_or(mb, |p: f64| p.max(mb)));
        }
        tokio::select! {
            status = child.wait() => {
                let status = status.context("wait for the exporter")?;
                return Ok((started.elapsed(), peak, status.success()));
            }
            () = tokio::time::sleep(RSS_POLL) => {}
        }
        if started.elapsed() > limit {
            child.kill().await.ok();
            bail!("reporting-api export did not finish within {limit:?}");
        }
    }
}

fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}

/// A minimal HTTP/1.1 Finance: `GET /health` and `POST /clicks` (counted).
async fn serve(listener: TcpListener, tally: Arc<Tally>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, Arc::clone(&tally)));
    }
}

#[derive(Deserialize)]
struct Payload {
    date: String,
    #[allow(dead_code)]
    total_clicks: u64,
    clicks: Vec<serde::de::IgnoredAny>,
}

async fn connection(stream: TcpStream, tally: Arc<Tally>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let (status, answer) = match (method.as_str(), path.as_str()) {
            ("GET", "/health") => ("200 OK", r#"{"status":"ok"}"#),
            ("POST", "/clicks") => {
                tally.requests.fetch_add(1, Ordering::Relaxed);
                match serde_json::from_slice::<Payload>(&body) {
                    Ok(payload) if payload.date == DATE => {
                        tally
                            .clicks
                            .fetch_add(payload.clicks.len() as u64, Ordering::Relaxed);
                        ("200 OK", r#"{"status":"received"}"#)
                    }
                    _ => {
                        tally.bad.fetch_add(1, Ordering::Relaxed);
                        ("400 Bad Request", r#"{"error":"bad payload"}"#)
                    }
                }
            }
            _ => ("404 Not Found", r#"{"error":"not found"}"#),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        reader.get_mut().write_all(response.as_bytes()).await?;
    }
}
