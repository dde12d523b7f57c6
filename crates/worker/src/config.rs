//! Settings of `worker`: every one a flag and an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

use clickstream::DEFAULT_GROUP;

/// Consumes the click stream and writes clicks and aggregates to MySQL.
#[derive(Debug, Clone, Parser)]
#[command(name = "worker", version, about, args_override_self = true)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// MySQL/MariaDB the clicks are written to.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "mysql://root@127.0.0.1:3306/clicks_service",
        hide_env_values = true,
        value_parser = service_runtime::SecretValue::new("DATABASE_URL", storage::DatabaseUrl::parse)
    )]
    pub database_url: storage::DatabaseUrl,

    #[command(flatten)]
    pub redis: clickstream::RedisSettings,

    /// The stream key ingest appends to.
    #[arg(
        long,
        global = true,
        env = "CLICKS_QUEUE_NAME",
        default_value = "clicks-processing"
    )]
    pub clicks_queue_name: String,

    /// Stream keys ingest spreads the clicks over (see ingest's
    /// CLICKS_STREAM_SHARDS); this process runs its lanes on every shard.
    #[arg(long, global = true, env = "CLICKS_STREAM_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clicks_stream_shards: u32,

    /// Most clicks committed in one transaction.
    #[arg(long, global = true, env = "CLICKS_BATCH_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub clicks_batch_size: u32,

    /// Listen address of the health endpoint.
    #[arg(
        long,
        global = true,
        env = "WORKER_BIND",
        default_value = "0.0.0.0:8082"
    )]
    pub worker_bind: SocketAddr,

    /// The consumer group shared by all workers.
    #[arg(long, global = true, env = "WORKER_GROUP", default_value = DEFAULT_GROUP)]
    pub group: String,

    /// This process's consumer name; unique per process (default: host name and process id).
    /// A restarted worker with the same name first re-reads what it left pending.
    #[arg(long, global = true, env = "WORKER_CONSUMER_NAME")]
    pub consumer_name: Option<String>,

    /// How long an entry stays pending with another consumer before this one takes it over, in seconds.
    #[arg(long, global = true, env = "WORKER_CLAIM_IDLE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub claim_idle_secs: u64,

    /// Days of clicks the service keeps (as ingest and `reporting-api retention` use it): a click
    /// more than a day older than ingest accepts is dead-lettered, since its date's raw clicks — the
    /// dedupe of click_id — may be deleted. Unset: any date.
    #[arg(long, global = true, env = "CLICKS_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_600))]
    pub clicks_retention_days: Option<u32>,

    /// Deliveries after which an entry goes to the dead-letter stream.
    #[arg(long, global = true, env = "WORKER_MAX_DELIVERIES", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_deliveries: u64,

    /// How long one read waits for new entries, in milliseconds.
    #[arg(long, global = true, env = "WORKER_BLOCK_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub block_ms: u64,

    /// Consumers run side by side in this process on each stream shard, each
    /// with its own batch in flight (named `<consumer>-<n>` when more than one).
    #[arg(long, global = true, env = "WORKER_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// MySQL connections of this process.
    #[arg(long, global = true, env = "WORKER_DB_CONNECTIONS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub db_connections: u32,

    /// Time, in milliseconds, between two folds of the stored batches' counts
    /// into the aggregate tables while there is something to fold: about how
    /// far reports trail the stored clicks under load. Longer folds fewer,
    /// larger sets (less work per click, a larger last fold after a burst).
    #[arg(long, global = true, env = "AGGREGATES_FOLD_INTERVAL_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub aggregates_fold_interval_ms: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Consume the stream (the default).
    Run,
    /// Inspect or replay the dead-letter stream.
    #[command(subcommand)]
    DeadLetter(DeadLetterCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLetterCommand {
    /// List dead-lettered entries, oldest first, with their reason.
    List {
        /// Most entries shown.
        #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
        count: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put entries back on the main stream (they are removed from the
    /// dead-letter stream once re-added); replayed clicks still count once.
    Replay {
        /// The dead-letter entry ID to replay (repeatable).
        #[arg(long = "id", required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Replay every dead-lettered entry.
        #[arg(long)]
        all: bool,
    },
}

impl Settings {
    /// The consumer names of this process's lanes: stable across restarts,
    /// so a restarted lane re-reads what it left pending.
    pub fn consumers(&self) -> Vec<String> {
        let base = self
            .consumer_name
            .clone()
            .unwrap_or_else(default_consumer_name);
        if self.concurrency == 1 {
            return vec![base];
        }
        (1..=self.concurrency)
            .map(|lane| format!("{base}-{lane}"))
            .collect()
    }

    /// The stream keys this process consumes (see `clickstream::layout`).
    pub fn layout(&self) -> clickstream::Layout {
        clickstream::Layout::new(&self.clicks_queue_name, self.clicks_stream_shards)
    }

    /// One lane's stream names for each shard.
    pub fn shard_names(&self, consumer: &str) -> Vec<clickstream::StreamNames> {
        self.layout()
            .streams()
            .iter()
            .map(|stream| clickstream::StreamNames {
                stream: stream.clone(),
                group: self.group.clone(),
                consumer: consumer.to_owned(),
            })
            .collect()
    }

    pub fn claim_idle(&self) -> Duration {
        Duration::from_secs(self.claim_idle_secs)
    }

    pub fn block(&self) -> Duration {
        Duration::from_millis(self.block_ms)
    }

    pub fn fold_interval(&self) -> Duration {
        Duration::from_millis(self.aggregates_fold_interval_ms)
    }
}

/// `<host>-<pid>`: stable across restarts of a container (its host name is
/// the pod's, its pid 1), distinct between processes on one machine.
fn default_consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod secret_tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn settings_never_print_their_secrets() {
        let settings = Settings::try_parse_from([
            "worker",
            "--database-url=mysql://app:hunter1@db/clicks",
            "--redis-url=rediss://app:hunter2@cache:6379",
        ])
        .expect("settings");
        let printed = format!("{settings:?}");
        for secret in ["hunter1", "hunter2"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }
}
