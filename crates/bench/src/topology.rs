//! Which Redis a run measures: the standalone node of `--redis-url`, a
//! private Redis Cluster started for the run, or both one after the other;
//! and the stream shards and replica acknowledgement each run gives ingest
//! and the workers.
//!
//! The cluster is `testkit::RedisCluster`: three masters and three replicas,
//! six `redis-server` processes of the bench's own on 127.0.0.1, killed when
//! the run on it ends.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{ClusterPersistence, RedisMode, RunArgs};
use crate::conn::ensure_loopback_url;
use crate::harness::note;

/// Masters of the private cluster: stream shards are best a multiple of it.
pub const CLUSTER_MASTERS: u32 = 3;
/// `CLICKS_STREAM_SHARDS` with a cluster when `--stream-shards` is not given:
/// four shards per master, so every master has several collectors' pipelines.
pub const CLUSTER_DEFAULT_SHARDS: u32 = 12;
/// The services' own default, kept for a standalone-only run.
const STANDALONE_DEFAULT_SHARDS: u32 = 1;
/// Forming the cluster takes about 2 s; testkit gives up on its own after 30 s.
const CLUSTER_START_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Standalone,
    Cluster,
}

impl Topology {
    pub fn name(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Cluster => "cluster",
        }
    }
}

/// What one run of the scenarios points ingest and the workers at.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub topology: Topology,
    /// `REDIS_URL` of ingest, the workers and the bench's own connection.
    pub url: String,
    /// `CLICKS_STREAM_SHARDS`.
    pub shards: u32,
    /// `REDIS_MIN_REPLICAS_ACK` of ingest.
    pub min_replicas_ack: u32,
}

impl RedisTarget {
    /// One line for the table's heading.
    pub fn describe(&self) -> String {
        let what = match self.topology {
            Topology::Standalone => format!("standalone Redis {}", self.url),
            Topology::Cluster => format!(
                "private Redis Cluster ({CLUSTER_MASTERS} masters + {CLUSTER_MASTERS} replicas on this machine) {}",
                self.url
            ),
        };
        format!(
            "{what}; CLICKS_STREAM_SHARDS {}, REDIS_MIN_REPLICAS_ACK {}",
            self.shards, self.min_replicas_ack
        )
    }
}

/// The runs one invocation makes, in order, and what each gets.
#[derive(Debug, Clone)]
pub struct Plan {
    pub topologies: Vec<Topology>,
    pub shards: u32,
    min_replicas_ack: u32,
}

impl Plan {
    /// Checks the flags that only make sense together.
    pub fn new(args: &RunArgs) -> anyhow::Result<Self> {
        let topologies = match args.redis_mode {
            RedisMode::Standalone => vec![Topology::Standalone],
            RedisMode::Cluster => vec![Topology::Cluster],
            RedisMode::Both => vec![Topology::Standalone, Topology::Cluster],
        };
        let with_cluster = topologies.contains(&Topology::Cluster);
        if args.compare_replica_ack && !with_cluster {
            bail!(
                "--compare-replica-ack needs --redis cluster or both: the standalone Redis has no replicas"
            );
        }
        if let Some(slice) = args.interleave {
            if args.redis_mode != RedisMode::Both {
                bail!("--interleave needs --redis both: it switches the load between the two");
            }
            if args.repeat > 1 || args.compare_replica_ack {
                bail!("--interleave goes without --repeat and --compare-replica-ack");
            }
            if let Some(other) = args
                .scenarios
                .iter()
                .find(|scenario| !crate::scenarios::INTERLEAVED.contains(scenario))
            {
                bail!("--interleave measures single and batch only, not {other:?}");
            }
            if slice < Duration::from_millis(500) {
                bail!("--interleave {slice:?}: a slice shorter than 500ms is mostly warm-up");
            }
        }
        let default_shards = if with_cluster {
            CLUSTER_DEFAULT_SHARDS
        } else {
            STANDALONE_DEFAULT_SHARDS
        };
        let shards = args.stream_shards.unwrap_or(default_shards);
        if with_cluster && !shards.is_multiple_of(CLUSTER_MASTERS) {
            note(format!(
                "--stream-shards {shards} is not a multiple of the cluster's {CLUSTER_MASTERS} masters: \
                 they get unequal shares of the stream"
            ));
        }
        if args.redis_mode == RedisMode::Both && args.min_replicas_ack > 0 {
            note(format!(
                "--min-replicas-ack {} applies to the cluster run only; the standalone run uses 0",
                args.min_replicas_ack
            ));
        }
        Ok(Self {
            topologies,
            shards,
            min_replicas_ack: args.min_replicas_ack,
        })
    }

    /// The target of `topology` once its Redis is known to be at `url`.
    pub fn target(&self, topology: Topology, url: String, mode: RedisMode) -> RedisTarget {
        // A standalone node next to a cluster run has no replicas to wait for.
        let min_replicas_ack = match (topology, mode) {
            (Topology::Standalone, RedisMode::Both) => 0,
            _ => self.min_replicas_ack,
        };
        RedisTarget {
            topology,
            url,
            shards: self.shards,
            min_replicas_ack,
        }
    }
}

/// `redis://…` with a loopback host, or `redis+cluster://…` whose every
/// seed node is on a loopback host.
pub fn ensure_loopback_redis(url: &str) -> anyhow::Result<()> {
    match url.split_once("+cluster://") {
        Some((scheme, nodes)) => {
            for node in nodes.split(',') {
                ensure_loopback_url(&format!("{scheme}://{}", node.trim()))
                    .with_context(|| format!("a node of {url}"))?;
            }
            Ok(())
        }
        None => ensure_loopback_url(url),
    }
}

/// Starts the private cluster; fails (instead of panicking, as testkit does
/// in tests) when it does not form in time. Its nodes are killed when the
/// returned value is dropped, and when the start is abandoned half-way.
/// Every node (replicas too) is then given `persistence`, read from the
/// standalone node of `standalone_url` for `like-standalone`.
pub async fn start_cluster(
    persistence: ClusterPersistence,
    standalone_url: &str,
) -> anyhow::Result<testkit::RedisCluster> {
    let wanted = match persistence.settings() {
        Some(settings) => settings,
        None => {
            let mut conn = node(standalone_url).await?;
            clickstream::inspect::persistence(&mut conn)
                .await
                .with_context(|| format!("reading the persistence of {standalone_url}"))?
        }
    };
    let started = std::time::Instant::now();
    let mut task = AbortOnDrop(tokio::spawn(testkit::RedisCluster::start()));
    let joined = tokio::time::timeout(CLUSTER_START_LIMIT, &mut task.0).await;
    let cluster = match joined {
        Ok(Ok(cluster)) => cluster,
        Ok(Err(error)) => bail!(
            "the private Redis Cluster did not start: {}",
            panic_text(error)
        ),
        Err(_) => bail!("the private Redis Cluster did not form within {CLUSTER_START_LIMIT:?}"),
    };
    ensure_loopback_redis(&cluster.url())?;
    for index in 0..cluster.node_count() {
        let mut conn = node(&cluster.node_url(index)).await?;
        clickstream::inspect::set_persistence(&mut conn, &wanted)
            .await
            .with_context(|| format!("cluster node {index}: {wanted}"))?;
    }
    note(format!(
        "Redis Cluster of {} nodes formed in {:.1} s: {}; every node set to {wanted}",
        cluster.node_count(),
        started.elapsed().as_secs_f64(),
        cluster.url()
    ));
    Ok(cluster)
}

/// A connection to each node of the Redis at `url`: the one node, or every
/// node a cluster's first seed lists, replicas included (the bench's own
/// cluster needs no credentials, which other nodes' addresses would lack).
pub async fn nodes_of(url: &str) -> anyhow::Result<Vec<clickstream::Conn>> {
    let Some((scheme, seeds)) = url.split_once("+cluster://") else {
        return Ok(vec![node(url).await?]);
    };
    let seed = seeds.split(',').next().unwrap_or_default().trim();
    let mut conn = node(&format!("{scheme}://{seed}")).await?;
    let addresses = clickstream::inspect::cluster_node_addresses(&mut conn)
        .await
        .with_context(|| format!("listing the nodes of {url}"))?;
    let mut nodes = Vec::with_capacity(addresses.len());
    for address in addresses {
        nodes.push(node(&format!("{scheme}://{address}")).await?);
    }
    Ok(nodes)
}

/// A connection to the one node at `url` (loopback only).
async fn node(url: &str) -> anyhow::Result<clickstream::Conn> {
    ensure_loopback_redis(url)?;
    let redis = clickstream::Redis::new(&clickstream::RedisSettings::from_url(url))?;
    let conn = tokio::time::timeout(
        Duration::from_secs(5),
        redis.dedicated(Duration::from_secs(5)),
    )
    .await
    .with_context(|| format!("connecting to {url} timed out"))??;
    Ok(conn)
}

/// Aborting the start drops the half-made cluster, whose nodes testkit kills.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "it panicked".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn plan(flags: &[&str]) -> anyhow::Result<(Plan, RunArgs)> {
        let mut argv = vec!["clicks-bench"];
        argv.extend_from_slice(flags);
        let args = Cli::try_parse_from(argv).expect("flags parse").run;
        Plan::new(&args).map(|plan| (plan, args))
    }

    #[test]
    fn interleaving_needs_both_topologies_and_loads_without_workers() {
        let flags = |line: &str| plan(&line.split(' ').collect::<Vec<_>>());
        let ok = flags("--redis both --scenarios single,batch --interleave 1s");
        assert_eq!(ok.expect("plan").0.topologies.len(), 2);
        for refused in [
            "--redis cluster --scenarios single --interleave 1s",
            "--redis both --scenarios single,drain --interleave 1s",
            "--redis both --scenarios single --interleave 1s --repeat 2",
            "--redis both --scenarios single --interleave 1s --compare-replica-ack",
            "--redis both --scenarios single --interleave 100ms",
        ] {
            assert!(flags(refused).is_err(), "{refused} must be refused");
        }
    }

    #[test]
    fn standalone_keeps_todays_defaults() {
        let (plan, args) = plan(&[]).expect("plan");
        assert_eq!(plan.topologies, vec![Topology::Standalone]);
        assert_eq!(plan.shards, 1);
        let target = plan.target(Topology::Standalone, args.redis_url, args.redis_mode);
        assert_eq!(target.min_replicas_ack, 0);
    }

    #[test]
    fn both_runs_standalone_then_the_cluster_on_the_same_shards() {
        let (plan, args) = plan(&["--redis", "both", "--min-replicas-ack", "1"]).expect("plan");
        assert_eq!(
            plan.topologies,
            vec![Topology::Standalone, Topology::Cluster]
        );
        assert_eq!(plan.shards, CLUSTER_DEFAULT_SHARDS);
        assert_eq!(plan.shards % CLUSTER_MASTERS, 0);
        let standalone = plan.target(
            Topology::Standalone,
            "redis://127.0.0.1:1".into(),
            args.redis_mode,
        );
        let cluster = plan.target(
            Topology::Cluster,
            "redis+cluster://127.0.0.1:2".into(),
            args.redis_mode,
        );
        assert_eq!(standalone.shards, cluster.shards);
        assert_eq!(standalone.min_replicas_ack, 0);
        assert_eq!(cluster.min_replicas_ack, 1);
    }

    #[test]
    fn stream_shards_override_the_cluster_default() {
        let (plan, _) = plan(&["--redis", "cluster", "--stream-shards", "3"]).expect("plan");
        assert_eq!(plan.shards, 3);
    }

    #[test]
    fn replica_ack_comparison_needs_a_cluster() {
        assert!(plan(&["--compare-replica-ack"]).is_err());
        assert!(plan(&["--redis", "cluster", "--compare-replica-ack"]).is_ok());
    }

    #[test]
    fn every_cluster_node_must_be_local() {
        assert!(ensure_loopback_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2").is_ok());
        assert!(ensure_loopback_redis("redis+cluster://127.0.0.1:1,10.0.0.1:2").is_err());
        assert!(ensure_loopback_redis("redis://127.0.0.1:6379").is_ok());
        assert!(ensure_loopback_redis("redis://192.168.1.2:6379").is_err());
    }
}
