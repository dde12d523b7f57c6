//! Scenario `reports`: the release `reporting-api` over a year of daily
//! aggregates for 2,000 (offer, source) pairs (730,000 `click_daily_stats`
//! rows, loaded as folds load them, not measured, in a year no other
//! scenario uses).
//!
//! - uncached: one client, a 31-day aggregated report (limit 100, sorted by
//!   clicks_count desc) and a 31-day summary, each request on a window no
//!   earlier request used, so every answer is computed (`X-Cache: miss`);
//! - cached: 32 keep-alive clients repeating a handful of windows
//!   (`X-Cache: hit`), requests per second.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::{NaiveDate, NaiveTime};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use sea_orm::{ConnectOptions, Database};
use serde_json::json;
use tokio::net::TcpStream;

use crate::harness::{Harness, note};
use crate::procs::{Service, free_local_addr};
use crate::report::Row;
use crate::stats::{Latencies, fmt_latency, fmt_rate, per_second};

const YEAR_START: &str = "2010-01-01";
const DAYS: u64 = 365;
const OFFERS: u64 = 400;
const SOURCES: u64 = 5;
const WINDOW_DAYS: u64 = 31;
const KEY: &str = "bench-reports-key";
const CACHED_CLIENTS: usize = 32;
const CACHED_DURATION: Duration = Duration::from_secs(10);
/// Windows the cached clients cycle through (all cached after one round).
const CACHED_WINDOWS: u64 = 8;

pub async fn run(h: &mut Harness) -> anyhow::Result<Vec<Row>> {
    let program = std::fs::canonicalize(&h.args.bin_dir)
        .context("--bin-dir")?
        .join("reporting-api");
    if !program.is_file() {
        bail!(
            "{} is missing (cargo build --release --bins)",
            program.display()
        );
    }
    // Earlier scenarios' clicks would otherwise mix into the year's aggregates.
    h.db()?.truncate().await?;
    let db_url = h.db()?.url.clone();
    let started = Instant::now();
    load(&db_url).await?;
    note(format!(
        "reports: loaded {} daily rows in {:.1} s",
        DAYS * OFFERS * SOURCES,
        started.elapsed().as_secs_f64()
    ));

    let work_dir = std::env::temp_dir().join(format!("clicks-bench-reports-{}", h.run_id));
    std::fs::create_dir_all(&work_dir)?;
    let addr = free_local_addr()?;
    let env = vec![
        ("DATABASE_URL".to_owned(), db_url),
        ("REDIS_URL".to_owned(), h.redis.url.clone()),
        ("REPORTING_BIND".to_owned(), addr.to_string()),
        ("REPORTING_API_KEYS".to_owned(), KEY.to_owned()),
        ("RUST_LOG".to_owned(), h.args.child_log.clone()),
    ];
    let mut api = Service::start("reporting-api", &program, &[], &env, addr, &work_dir)?;
    api.wait_healthy(Duration::from_secs(30)).await?;
    // First, while no report of its window is cached.
    let page = dashboard(addr).await;
    let outcome = measure(addr).await.map(|mut rows| {
        rows.extend(page);
        rows
    });
    let stopped = api.stop().await;
    let mut rows = outcome?;
    std::fs::remove_dir_all(&work_dir).ok();
    rows.push(
        Row::new(
            "rss reporting-api",
            stopped
                .peak_rss_mb
                .map_or("-".to_owned(), |mb| format!("{mb:.1} MB")),
        )
        .notes("VmHWM after the reports scenario"),
    );
    Ok(rows)
}

async fn measure(addr: SocketAddr) -> anyhow::Result<Vec<Row>> {
    let windows = DAYS - WINDOW_DAYS + 1;
    let mut rows = Vec::new();
    for (name, path) in [
        (
            "reports aggregated (uncached)",
            "/api/reports/aggregated?limit=100&sort_by=clicks_count&sort_direction=desc&",
        ),
        ("reports summary (uncached)", "/api/reports/summary?"),
    ] {
        let mut conn = Conn::connect(addr).await?;
        let mut latencies = Latencies::default();
        let mut misses = 0;
        // Warm-up on windows the measured requests do not use.
        for i in 0..5 {
            conn.get(&window_path(path, windows - 1 - i)).await?;
        }
        let measured = windows - 5;
        for i in 0..measured {
            let started = Instant::now();
            let cache = conn.get(&window_path(path, i)).await?;
            latencies.record(started.elapsed());
            misses += u64::from(cache == "miss");
        }
        if misses != measured {
            bail!(
                "{name}: {misses} of {measured} answers were computed; the rest came from the cache"
            );
        }
        rows.push(
            Row::new(name, format!("{measured} requests"))
                .latencies(
                    fmt_latency(latencies.quantile(0.5)),
                    fmt_latency(latencies.quantile(0.99)),
                )
                .notes(
                    "31-day windows over 730,000 daily rows, each window new (X-Cache: miss), 1 client; \
                     target p50 ≤ 10 ms, p99 ≤ 50 ms",
                )
                .json(json!({"scenario": name, "latency": latencies.to_json()})),
        );
    }

    // Cached: every client cycles through the same few windows.
    let paths: Vec<String> = (0..CACHED_WINDOWS)
        .flat_map(|i| {
            [
                window_path("/api/reports/aggregated?limit=100&", i * 7),
                window_path("/api/reports/summary?", i * 7),
            ]
        })
        .collect();
    let mut warm = Conn::connect(addr).await?;
    for path in &paths {
        warm.get(path).await?;
    }
    let deadline = Instant::now() + CACHED_DURATION;
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CACHED_CLIENTS {
        let paths = paths.clone();
        clients.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut latencies = Latencies::default();
            let (mut requests, mut hits) = (0u64, 0u64);
            let mut i = client;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let cache = conn.get(&paths[i % paths.len()]).await?;
                latencies.record(sent.elapsed());
                requests += 1;
                hits += u64::from(cache == "hit");
                i += 1;
            }
            anyhow::Ok((requests, hits, latencies))
        });
    }
    let (mut requests, mut hits, mut latencies) = (0, 0, Latencies::default());
    while let Some(result) = clients.join_next().await {
        let (r, h, l) = result.context("client task")??;
        requests += r;
        hits += h;
        latencies.merge(&l);
    }
    let rate = per_second(requests, started.elapsed());
    rows.push(
        Row::new("reports cached", format!("{} req/s", fmt_rate(rate)))
            .latencies(
                fmt_latency(latencies.quantile(0.5)),
                fmt_latency(latencies.quantile(0.99)),
            )
            .notes(format!(
                "{CACHED_CLIENTS} keep-alive clients, aggregated + summary over {CACHED_WINDOWS} windows, \
                 {hits} of {requests} hits; target ≥ 2,000 req/s"
            ))
            .json(json!({"requests": requests, "hits": hits, "requests_per_s": rate,
                         "latency": latencies.to_json()})),
    );
    Ok(rows)
}

/// Loads of the reports dashboard in Chromium (`tests/dashboard/measure.mjs`)
/// over the last 31-day window: the first while its reports are computed,
/// the others from the report cache; and the bytes of a load. Skipped, with
/// a note, where Chromium or the test's npm packages are not installed
/// (`scripts/dashboard-test.sh` installs them).
async fn dashboard(addr: SocketAddr) -> Vec<Row> {
    const RUNS: usize = 6;
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dashboard");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !tests.join("node_modules/playwright-core").is_dir()
        || !std::path::Path::new(&chromium).exists()
    {
        return vec![Row::new("dashboard", "skipped").notes(
            "needs Chromium and tests/dashboard/node_modules (scripts/dashboard-test.sh installs both)",
        )];
    }
    let offset = DAYS - WINDOW_DAYS;
    let run = tokio::process::Command::new("node")
        .arg(tests.join("measure.mjs"))
        .env("REPORTING_URL", format!("http://{addr}"))
        .env("API_KEY", KEY)
        .env("START_DATE", date(offset))
        .env("END_DATE", date(offset + WINDOW_DAYS - 1))
        .env("RUNS", RUNS.to_string())
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let figures = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(output)) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()),
        Ok(Ok(output)) => {
            note(format!(
                "dashboard: measure.mjs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            None
        }
        Ok(Err(error)) => {
            note(format!("dashboard: cannot run node: {error}"));
            None
        }
        Err(_) => {
            note("dashboard: measure.mjs took over 120 s".to_owned());
            None
        }
    };
    let Some(figures) = figures else {
        return vec![Row::new("dashboard", "failed").notes("see the note above")];
    };
    let times: Vec<f64> = figures["first_render_ms"]
        .as_array()
        .map(|times| times.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let mut cached = times.iter().skip(1).copied().collect::<Vec<_>>();
    cached.sort_by(f64::total_cmp);
    let median = cached.get(cached.len() / 2).copied().unwrap_or(f64::NAN);
    let bytes = |name: &str| figures[name].as_u64().unwrap_or(0);
    vec![
        Row::new(
            "dashboard first render (reports computed)",
            format!("{:.0} ms", times.first().copied().unwrap_or(f64::NAN)),
        )
        .notes("Chromium, cold HTTP cache: navigation start to totals, chart and table drawn; 31 days over 730,000 daily rows")
        .json(figures.clone()),
        Row::new("dashboard first render (reports cached)", format!("{median:.0} ms"))
            .notes(format!("median of {} further loads, cold HTTP cache", cached.len())),
        Row::new("dashboard page weight", format!("{} bytes", bytes("page_bytes"))).notes(format!(
            "document and assets {} bytes (uncompressed), report answers {} bytes",
            bytes("asset_bytes"),
            bytes("api_bytes")
        )),
    ]
}

/// `path` for the 31-day window starting `offset` days into the year.
fn window_path(path: &str, offset: u64) -> String {
    let start = date(offset);
    let end = date(offset + WINDOW_DAYS - 1);
    format!("{path}start_date={start}&end_date={end}")
}

fn date(offset: u64) -> String {
    /// 2010-01-01 in days since 1970-01-01.
    const YEAR_START_DAYS: u64 = 14_610;
    civil_date(YEAR_START_DAYS + offset)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The year of aggregates, a day's groups per transaction on each of two
/// loading connections, through `storage::aggregates::add_counts` (the
/// statements a fold runs, so every aggregate table and the date versions
/// are kept as the worker keeps them).
async fn load(db_url: &str) -> anyhow::Result<()> {
    let mut options = ConnectOptions::new(db_url.to_owned());
    options.max_connections(2).sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .context("connect to the bench database")?;
    let year_start: NaiveDate = YEAR_START.parse().context("the year's start")?;
    let mut loaders = tokio::task::JoinSet::new();
    for loader in 0..2 {
        let db = db.clone();
        loaders.spawn(async move {
            for day in (loader..DAYS).step_by(2) {
                let midnight = (year_start + chrono::Days::new(day)).and_time(NaiveTime::MIN);
                let counts = (0..OFFERS * SOURCES).map(|pair| {
                    let (offer, source) = (1 + pair / SOURCES, pair % SOURCES);
                    // Skewed counts with many ties, like real traffic.
                    let clicks = 1 + (day * 7 + offer * 13 + source * 31) % 500;
                    let clicks = i64::try_from(clicks).unwrap_or(i64::MAX);
                    (midnight, offer, format!("network_{source}"), clicks)
                });
                storage::aggregates::add_counts(&db, counts)
                    .await
                    .context("load a day's aggregates")?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = loaders.join_next().await {
        result.context("loader task")??;
    }
    storage::inspect::analyze_aggregates(&db)
        .await
        .context("analyze")?;
    debug_assert_eq!(date(0), YEAR_START);
    Ok(())
}

/// One keep-alive connection that reads `X-Cache` from each answer.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    driver: tokio::task::JoinHandle<()>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.context("connect")?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
            driver,
        })
    }

    /// GET `path`; fails unless 200; the `X-Cache` value.
    async fn get(&mut self, path: &str) -> anyhow::Result<String> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, &self.host)
            .header(AUTHORIZATION, format!("Bearer {KEY}"))
            .body(Full::new(Bytes::new()))?;
        self.sender.ready().await.context("connection closed")?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let cache = response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(cache)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_year_start() {
        assert_eq!(date(0), YEAR_START);
        assert_eq!(date(31), "2010-02-01");
        assert_eq!(date(364), "2010-12-31");
        assert_eq!(civil_date(19_723), "2024-01-01");
    }
}
