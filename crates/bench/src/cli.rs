//! Command line of `clicks-bench`: the full harness (default) and the `load`
//! subcommand that only sends load to an ingest that is already running.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "clicks-bench",
    about = "Benchmarks the release binaries `ingest` and `worker` against local Redis and MariaDB",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Only send load to an ingest that is already running (e.g. `make run`).
    Load(LoadArgs),
}

/// Which Redis the services run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedisMode {
    /// The one node of `--redis-url`.
    Standalone,
    /// A private Redis Cluster (3 masters, 3 replicas on 127.0.0.1) started for the run.
    Cluster,
    /// Standalone, then the cluster, in the same run, side by side.
    Both,
}

/// How the private cluster's nodes persist writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterPersistence {
    /// As the standalone Redis of `--redis-url` does (its `appendonly`,
    /// `appendfsync` and `save`), so the comparison is of topologies alone.
    LikeStandalone,
    /// An append-only file synced on every write (how testkit starts them).
    AofAlways,
    /// An append-only file synced once a second.
    AofEverysec,
    /// An append-only file the kernel syncs when it likes.
    AofNo,
    /// Neither an append-only file nor snapshots.
    None,
}

impl ClusterPersistence {
    /// The settings, or `None` for [`Self::LikeStandalone`] (read from the node).
    pub fn settings(self) -> Option<clickstream::inspect::Persistence> {
        let (append_only, append_fsync) = match self {
            Self::LikeStandalone => return None,
            Self::AofAlways => (true, "always"),
            Self::AofEverysec => (true, "everysec"),
            Self::AofNo => (true, "no"),
            Self::None => (false, "everysec"),
        };
        Some(clickstream::inspect::Persistence {
            append_only,
            append_fsync: append_fsync.to_owned(),
            save: String::new(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    Single,
    /// Single clicks with 1,000 senders in the keys file, named and not, against one secret.
    Senders,
    Batch,
    Drain,
    E2e,
    Export,
    Reports,
}

/// The full harness: starts the binaries, runs the scenarios, cleans up.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenarios to run, in this order whatever the order given.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "single,senders,batch,drain,e2e,export,reports"
    )]
    pub scenarios: Vec<Scenario>,

    /// single: concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// single: most measured requests.
    #[arg(long, default_value_t = 200_000)]
    pub requests: u64,
    /// single: longest measured time (e.g. `15`, `15s`, `500ms`).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// single and batch: time at the start left out of the figures.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// batch: concurrent connections.
    #[arg(long, default_value_t = 4)]
    pub batch_concurrency: usize,
    /// batch: most measured batch requests.
    #[arg(long, default_value_t = 1000)]
    pub batches: u64,
    /// batch: clicks per batch request (at most 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch_size: u64,
    /// batch: longest measured time.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub batch_duration: Duration,

    /// drain: the last run uses this many workers (1, 2, … each on a fresh backlog).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub workers_max: u64,
    /// drain: `CLICKS_BATCH_SIZE` of the workers.
    #[arg(long, default_value_t = 1000)]
    pub worker_batch_size: u64,
    /// drain: give up waiting for the tables after this long.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// drain: backlog to load when single and batch left none (with
    /// `--redis both`: always, the same in both topologies).
    #[arg(long, default_value_t = 200_000)]
    pub drain_clicks: u64,
    /// drain: the traffic model of that backlog (`spread`: uniform offers and
    /// sources over three days of 2025; `realistic`: mostly the last hour,
    /// skewed offers and sources, 3% resends; see `payload.rs`).
    #[arg(long, value_enum, default_value_t = crate::payload::Traffic::Spread)]
    pub traffic: crate::payload::Traffic,
    /// Every generated click's `click_id` and `signature` (`readable`:
    /// `<run>-<tag><conn>-<seq>` and `bench-<digits>`, very compressible;
    /// `opaque`: a random UUID-shaped id and 64 hex digits, as many senders
    /// send them, close to incompressible).
    #[arg(long, value_enum, default_value_t = crate::payload::Ids::Readable)]
    pub ids: crate::payload::Ids,

    /// e2e: background load in requests per second.
    #[arg(long, default_value_t = 2000)]
    pub e2e_rate: u64,
    /// e2e: how long the background load and the probes run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub e2e_duration: Duration,
    /// e2e: connections of the background load.
    #[arg(long, default_value_t = 8)]
    pub e2e_connections: usize,
    /// e2e: one probe click per this interval.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub probe_interval: Duration,
    /// e2e: MariaDB is asked for the pending probes this often.
    #[arg(long, default_value = "2ms", value_parser = parse_duration)]
    pub probe_poll: Duration,
    /// e2e: a probe not stored after this long counts as lost.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// export: clicks of the exported day.
    #[arg(long, default_value_t = 1_000_000)]
    pub export_clicks: u64,
    /// export: give up on `reporting-api export` after this long.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub export_timeout: Duration,

    /// Where `ingest`, `worker` and `migrate` are.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Redis of the run: `standalone` (`--redis-url`), `cluster` (a private
    /// Redis Cluster of 3 masters and 3 replicas the bench starts and stops),
    /// or `both`, one after the other, printed side by side.
    #[arg(long = "redis", value_enum, default_value = "standalone")]
    pub redis_mode: RedisMode,
    /// The standalone Redis (loopback only).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// `REDIS_MIN_REPLICAS_ACK` of ingest: replicas that must hold a click
    /// before it is answered 202. With `--redis both` only the cluster run
    /// uses it (the standalone Redis has no replicas).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub min_replicas_ack: u32,
    /// With `--redis cluster` or `both`: after the scenarios, measure
    /// single-click webhooks on the cluster at `--ack-rate` with
    /// `REDIS_MIN_REPLICAS_ACK` 0 and then 1, and print the p99 difference.
    #[arg(long)]
    pub compare_replica_ack: bool,
    /// `--compare-replica-ack`: requests per second of both loads, over
    /// `--concurrency` connections for `--duration`.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ack_rate: u64,
    /// How every node of the private cluster persists writes once it has
    /// formed. The default copies the standalone Redis, so the side-by-side
    /// ratio measures the topology, not a different fsync policy.
    #[arg(long, value_enum, default_value = "like-standalone")]
    pub cluster_persistence: ClusterPersistence,
    /// MariaDB/MySQL server, without a database (loopback only).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    pub mysql_server: String,
    /// `RUST_LOG` of the child processes.
    #[arg(long, default_value = "warn")]
    pub child_log: String,
    /// `CLICKS_STREAM_SHARDS` of ingest and the workers (the services'
    /// default is 1; see docs/scaling-out.md). Default: 1 with
    /// `--redis standalone`, 12 (a multiple of the cluster's 3 masters) with
    /// `cluster` and `both`, whose standalone run uses the same number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub stream_shards: Option<u32>,
    /// `WORKER_CONCURRENCY` of the workers: lanes per shard in each process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub worker_concurrency: u32,
    /// Extra environment of ingest, `NAME=VALUE` (repeatable).
    #[arg(long, value_parser = parse_env_pair)]
    pub ingest_env: Vec<(String, String)>,
    /// Extra environment of every worker, `NAME=VALUE` (repeatable).
    #[arg(long, value_parser = parse_env_pair)]
    pub worker_env: Vec<(String, String)>,
    /// Run the whole plan this many times. With `--redis both` the rounds
    /// alternate which topology goes first, and a last table gives each
    /// scenario's median cluster/standalone ratio.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub repeat: u32,
    /// With `--redis both`: run single clicks and batches on both
    /// topologies at once (an ingest on each), the load switching between
    /// them every SLICE, standalone first in odd slices. `--duration` and
    /// `--batch-duration` (and `--requests`, `--batches`) are then each
    /// topology's total over its slices, and the figure is the median of
    /// the slice pairs' ratios: a slow spell of the machine hits both sides
    /// of a pair alike.
    #[arg(long, value_name = "SLICE", value_parser = parse_duration)]
    pub interleave: Option<Duration>,
    /// Stop (and clean up) when the whole run takes longer than this.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Keep the child processes' logs even when everything went well.
    #[arg(long)]
    pub keep_logs: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags shared by the harness and `load`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Also print one JSON line per result.
    #[arg(long)]
    pub json: bool,
    /// Threads of the load generator's runtime (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub client_threads: u64,
    /// A request without an answer after this long counts as an error.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadMode {
    Single,
    Batch,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the running ingest (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// HMAC key (also read from `.env`); of a comma-separated list the first one is used.
    #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true)]
    pub key: String,
    /// Single clicks, or batches of `--batch-size`.
    #[arg(long, value_enum, default_value = "single")]
    pub mode: LoadMode,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Most measured requests (batches in batch mode).
    #[arg(long, default_value_t = 200_000)]
    pub requests: u64,
    /// Longest measured time (e.g. `15`, `15s`, `500ms`).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time at the start left out of the figures (not with `--rate`).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Clicks per batch request (at most 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch_size: u64,
    /// Send at this fixed total rate (requests per second) instead of as fast as possible.
    #[arg(long)]
    pub rate: Option<u64>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `15`, `15s`, `1.5s`, `250ms` or `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 15s or 250ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}` (ms, s or m)")),
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn defaults_select_every_scenario() {
        let cli = Cli::try_parse_from(["clicks-bench"]).expect("defaults parse");
        assert!(cli.command.is_none());
        assert_eq!(
            cli.run.scenarios,
            vec![
                Scenario::Single,
                Scenario::Senders,
                Scenario::Batch,
                Scenario::Drain,
                Scenario::E2e,
                Scenario::Export,
                Scenario::Reports
            ]
        );
        assert_eq!(cli.run.concurrency, 64);
        assert_eq!(cli.run.redis_mode, RedisMode::Standalone);
        assert_eq!(cli.run.stream_shards, None);
        assert_eq!(cli.run.min_replicas_ack, 0);
        assert!(!cli.run.compare_replica_ack);
    }

    #[test]
    fn redis_topology_flags_parse() {
        let cli = Cli::try_parse_from([
            "clicks-bench",
            "--redis",
            "both",
            "--min-replicas-ack",
            "1",
            "--compare-replica-ack",
            "--stream-shards",
            "6",
        ])
        .expect("flags parse");
        assert_eq!(cli.run.redis_mode, RedisMode::Both);
        assert_eq!(cli.run.min_replicas_ack, 1);
        assert!(cli.run.compare_replica_ack);
        assert_eq!(cli.run.stream_shards, Some(6));
        assert!(Cli::try_parse_from(["clicks-bench", "--redis", "sentinel"]).is_err());
    }

    #[test]
    fn load_subcommand_parses() {
        let cli = Cli::try_parse_from([
            "clicks-bench",
            "load",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--mode",
            "batch",
        ])
        .expect("load parses");
        match cli.command {
            Some(Command::Load(load)) => assert_eq!(load.mode, LoadMode::Batch),
            None => panic!("expected the load subcommand"),
        }
    }
}
