//! Command line of `clicks-chaos` and the two profiles' numbers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The highest scenario number.
pub const LAST_SCENARIO: u8 = 11;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "clicks-chaos",
    about = "Fault injection against the real ingest and worker binaries, with a private Redis and MariaDB: \
             every click answered 2xx must be stored once and counted once"
)]
pub struct Cli {
    /// short: small counts and outages (inside `make test`); long: the full
    /// outages and the 30-minute soak (`make chaos`).
    #[arg(long, value_enum, default_value = "short")]
    pub profile: Profile,

    /// Scenarios to run, by number (default: 1-7 and 9 for short, 1-11 for
    /// long): 1 worker kill -9, 2 ingest kill -9, 3 MariaDB down, 4 Redis
    /// down, 5 delays and resets between worker and MariaDB, 6 poison
    /// entries, 7 duplicate storm, 8 soak; on a Redis Cluster: 9 master
    /// kill -9, 10 a slot range without master, 11 the old master returns
    /// and is promoted back (double failover).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=i64::from(LAST_SCENARIO)))]
    pub scenarios: Vec<u8>,

    /// Where `ingest` and `worker` are (default: next to clicks-chaos itself,
    /// so a debug build tests the debug binaries and a release build the
    /// release ones).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,

    /// Soak length in minutes (default 30; the soak runs with the long profile
    /// or when selected with --scenarios 8).
    #[arg(long)]
    pub soak_minutes: Option<u64>,

    /// Soak load in requests per second.
    #[arg(long, default_value_t = 2000)]
    pub soak_rate: u64,

    /// Seed of the senders' and the faults' random choices (default: random;
    /// printed, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,

    /// `RUST_LOG` of the children.
    #[arg(long, default_value = "info")]
    pub child_log: String,

    /// Keep the logs even when every scenario passed.
    #[arg(long)]
    pub keep_logs: bool,
}

impl Cli {
    pub fn bin_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        Ok(std::fs::canonicalize(&dir).unwrap_or(dir))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Short,
    Long,
}

/// The background load most scenarios run under.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub senders: usize,
    pub rate: u64,
    pub batch_share: f64,
    pub batch_max: u32,
    pub resend_share: f64,
}

/// Every number of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenarios: Vec<u8>,
    pub traffic: Traffic,
    pub request_timeout: Duration,
    /// After the load stops, how long requests without a 2xx are retried.
    pub retry_grace: Duration,
    /// How long the workers get to drain the stream at the end of a scenario.
    pub drain_limit: Duration,
    /// How long one fault's recovery may take.
    pub recovery_limit: Duration,
    pub worker_batch_size: u32,
    pub claim_idle_secs: u64,
    /// 1: kill -9 a random worker after a random pause, this long in all.
    pub worker_kills_for: Duration,
    pub kill_pause: (Duration, Duration),
    /// 2: kill -9 ingest, this long in all.
    pub ingest_kills_for: Duration,
    /// 3: MariaDB down this long.
    pub db_down: Duration,
    /// 4: Redis down this long.
    pub redis_down: Duration,
    /// 3, 4: load before the outage and after it ends.
    pub outage_margin: (Duration, Duration),
    /// 5: each fault phase of the proxy lasts this long.
    pub proxy_phase: Duration,
    /// 6: poison entries written among the clicks, over this long.
    pub poison_entries: u32,
    pub poison_for: Duration,
    /// 7: the same clicks, resent by several senders at once.
    pub storm_clicks: u32,
    pub storm_senders: usize,
    /// Times each storm sender sends every click.
    pub storm_rounds: u32,
    /// 8: soak length, rate, and a worker kill this often.
    pub soak_for: Duration,
    pub soak_rate: u64,
    pub soak_kill_every: Duration,
    /// 9–11 run on a Redis Cluster (3 masters, 3 replicas): the stream in
    /// this many shards (a multiple of the masters, so each holds as many)…
    pub cluster_shards: u32,
    /// …and ingest answers 2xx only once this many replicas hold a click.
    pub cluster_replicas_ack: u32,
    /// 9–11: a few hundred clicks resent round after round by two senders
    /// at once, beside the traffic, at this many requests per second.
    pub resend_rate: u64,
    /// 9–11: load before the first kill and after the last recovery.
    pub failover_margin: (Duration, Duration),
    /// 11: load between the old master's return and the second kill.
    pub failover_pause: Duration,
    /// 10: how long a slot range has no master.
    pub masterless: Duration,
    /// 9–11: longest a promotion or a node's rejoining may take.
    pub failover_limit: Duration,
    pub seed: u64,
}

impl Plan {
    pub fn new(cli: &Cli, seed: u64) -> Self {
        let s = Duration::from_secs;
        let short = cli.profile == Profile::Short;
        let scenarios = if cli.scenarios.is_empty() {
            if short {
                vec![1, 2, 3, 4, 5, 6, 7, 9]
            } else {
                (1..=LAST_SCENARIO).collect()
            }
        } else {
            let mut chosen = cli.scenarios.clone();
            chosen.sort_unstable();
            chosen.dedup();
            chosen
        };
        let traffic = if short {
            Traffic {
                senders: 4,
                rate: 120,
                batch_share: 0.25,
                batch_max: 20,
                resend_share: 0.1,
            }
        } else {
            Traffic {
                senders: 16,
                rate: 600,
                batch_share: 0.25,
                batch_max: 50,
                resend_share: 0.1,
            }
        };
        Self {
            scenarios,
            traffic,
            request_timeout: s(5),
            retry_grace: s(20),
            drain_limit: if short { s(90) } else { s(600) },
            recovery_limit: s(90),
            worker_batch_size: 200,
            claim_idle_secs: 5,
            worker_kills_for: if short { s(12) } else { s(120) },
            kill_pause: if short {
                (Duration::from_millis(500), s(2))
            } else {
                (s(1), s(8))
            },
            ingest_kills_for: if short { s(8) } else { s(60) },
            db_down: if short { s(5) } else { s(20) },
            redis_down: if short { s(3) } else { s(10) },
            outage_margin: if short { (s(3), s(3)) } else { (s(10), s(20)) },
            proxy_phase: if short { s(2) } else { s(10) },
            poison_entries: if short { 40 } else { 500 },
            poison_for: if short { s(6) } else { s(30) },
            storm_clicks: 1000,
            storm_senders: 8,
            // Short: about 50 copies of each click in all; long: 50 per sender.
            storm_rounds: if short { 7 } else { 50 },
            soak_for: s(60 * cli.soak_minutes.unwrap_or(30)),
            soak_rate: cli.soak_rate,
            soak_kill_every: s(60),
            cluster_shards: 6,
            cluster_replicas_ack: 1,
            resend_rate: if short { 20 } else { 60 },
            failover_margin: if short { (s(3), s(3)) } else { (s(10), s(20)) },
            failover_pause: if short { s(2) } else { s(10) },
            masterless: if short { s(3) } else { s(10) },
            failover_limit: s(30),
            seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_pick_their_scenarios_and_flags_override() {
        let short = Cli::try_parse_from(["clicks-chaos"]).expect("defaults");
        assert_eq!(Plan::new(&short, 1).scenarios, vec![1, 2, 3, 4, 5, 6, 7, 9]);
        let long = Cli::try_parse_from(["clicks-chaos", "--profile", "long"]).expect("long");
        let plan = Plan::new(&long, 1);
        assert_eq!(plan.scenarios, (1..=11).collect::<Vec<u8>>());
        assert_eq!(plan.db_down, Duration::from_secs(20));
        assert_eq!(plan.soak_for, Duration::from_secs(30 * 60));
        let some = Cli::try_parse_from([
            "clicks-chaos",
            "--scenarios",
            "7,3,3",
            "--soak-minutes",
            "2",
        ])
        .expect("flags");
        let plan = Plan::new(&some, 1);
        assert_eq!(plan.scenarios, vec![3, 7]);
        assert_eq!(plan.soak_for, Duration::from_secs(120));
        assert!(Cli::try_parse_from(["clicks-chaos", "--scenarios", "12"]).is_err());
        assert!(Cli::try_parse_from(["clicks-chaos", "--scenarios", "0"]).is_err());
    }
}
