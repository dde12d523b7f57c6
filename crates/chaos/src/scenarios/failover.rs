//! What scenarios 9–11 share: a stage on a Redis Cluster of its own (the
//! stream in shards spread over three masters, ingest waiting for one
//! replica), the loads they run under, a master's `kill -9` with its
//! replica's promotion timed, and what the requests on the killed master's
//! shards were answered meanwhile.
//!
//! With one replica per master and `REDIS_MIN_REPLICAS_ACK=1` a shard whose
//! master was killed cannot acknowledge a write until the old master is back
//! as the new one's replica: its clicks get 503 meanwhile (the senders
//! retry), and never 2xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clickstream::Layout;
use rand::Rng;

use super::answered::Answered;
use super::{Outcome, Scene};
use crate::clicks::{ClickKey, offer_id};
use crate::load::{Load, LoadPlan, Workload};
use crate::redis_cluster::StageCluster;

/// Worker processes (each runs its lanes on every shard).
pub const WORKERS: usize = 2;
/// A killed node is gone within this of SIGKILL: requests sent earlier may
/// still have been acknowledged, legitimately.
pub const DYING: Duration = Duration::from_millis(100);
/// Namespaces of the resent clicks and of the probe (the traffic's senders
/// use 0 to `senders - 1`).
const RESENT_NAMESPACE: u32 = 1000;
const PROBE_NAMESPACE: u32 = 1001;
/// Clicks resent round after round, by two senders at once: one click per
/// request, and batches.
const RESENT_CLICKS: u32 = 300;
const RESENT_BATCHES: [u32; 2] = [1, 20];
/// Clicks of the probe, one per request.
const PROBE_CLICKS: u32 = 200;
const PROBE_SENDERS: usize = 2;
/// Clicks looked at to find the probe's.
const PROBE_SEARCH: u32 = 100_000;
/// How often the nodes are asked while a promotion is awaited.
const PROMOTION_POLL: Duration = Duration::from_millis(50);

/// Whether scenario `number` runs on a Redis Cluster of its own.
pub fn on_redis_cluster(number: u8) -> bool {
    (9..=11).contains(&number)
}

/// One master's `kill -9`, its replica's promotion and its own return.
#[derive(Debug, Clone)]
pub struct Failover {
    pub killed_node: usize,
    pub promoted_node: usize,
    /// The stream shards the killed node served.
    pub shards: Vec<usize>,
    pub killed: Instant,
    pub promoted: Instant,
    /// When the killed node was started again (it returns as a replica).
    pub returning: Instant,
    /// When it was back in sync with the new master.
    pub rejoined: Instant,
}

/// The loads of a cluster scenario.
pub struct Loads {
    traffic: Load,
    others: Vec<Load>,
    layout: Layout,
}

impl Loads {
    /// The background traffic, for [`Scene::recovery`].
    pub fn traffic(&self) -> &Load {
        &self.traffic
    }

    /// Stops every load (see [`Load::stop`]).
    pub async fn stop(self) -> anyhow::Result<Answered> {
        let mut runs = vec![(self.traffic.started(), self.traffic.stop().await?)];
        for load in self.others {
            runs.push((load.started(), load.stop().await?));
        }
        Ok(Answered::new(runs, self.layout))
    }
}

impl Scene<'_> {
    pub fn redis(&self) -> anyhow::Result<&StageCluster> {
        self.stage
            .redis_cluster
            .as_ref()
            .context("the stage has no Redis Cluster")
    }

    pub fn redis_mut(&mut self) -> anyhow::Result<&mut StageCluster> {
        self.stage
            .redis_cluster
            .as_mut()
            .context("the stage has no Redis Cluster")
    }

    /// A random shard's master, and every shard it serves.
    pub async fn pick_master(&mut self) -> anyhow::Result<(usize, Vec<usize>)> {
        let masters = self.redis()?.masters_of(&self.stage.layout()).await?;
        let shard = self.rng.random_range(0..masters.len());
        let master = masters[shard];
        Ok((master, shards_of(&masters, master)))
    }

    /// The traffic, clicks resent round after round by two senders at once,
    /// and, with `probe_shards`, one click per request on those shards only.
    pub fn start_loads(&mut self, probe_shards: Option<&[usize]>) -> anyhow::Result<Loads> {
        let layout = self.stage.layout();
        let probe_keys = match probe_shards {
            Some(shards) => {
                let keys: Vec<ClickKey> = (0..PROBE_SEARCH)
                    .map(|seq| ClickKey {
                        namespace: PROBE_NAMESPACE,
                        seq,
                    })
                    .filter(|key| shards.contains(&layout.shard_of(offer_id(*key))))
                    .take(PROBE_CLICKS as usize)
                    .collect();
                if keys.is_empty() {
                    bail!("no click of the suite goes to shards {shards:?}");
                }
                Some(keys)
            }
            None => None,
        };
        let traffic = self.traffic();
        let resent: Vec<ClickKey> = (0..RESENT_CLICKS)
            .map(|seq| ClickKey {
                namespace: RESENT_NAMESPACE,
                seq,
            })
            .collect();
        let resent = LoadPlan {
            senders: RESENT_BATCHES.len(),
            rate: self.plan.resend_rate,
            workload: Workload::Fixed {
                keys: Arc::new(resent),
                rounds: u32::MAX,
                batch_sizes: RESENT_BATCHES.to_vec(),
            },
            seed: self.rng.random(),
            ..traffic.clone()
        };
        let mut others = vec![self.start_load(resent)];
        if let Some(keys) = probe_keys {
            let probe = LoadPlan {
                senders: PROBE_SENDERS,
                rate: self.plan.resend_rate,
                workload: Workload::Fixed {
                    keys: Arc::new(keys),
                    rounds: u32::MAX,
                    batch_sizes: vec![1],
                },
                seed: self.rng.random(),
                ..traffic.clone()
            };
            others.push(self.start_load(probe));
        }
        Ok(Loads {
            traffic: self.start_load(traffic),
            others,
            layout,
        })
    }

    /// `kill -9` of master `node`; waits until its replica is promoted,
    /// starts the killed node again at once (as an orchestrator would) and
    /// waits until it is in sync as the new master's replica.
    pub async fn fail_over(&mut self, node: usize) -> anyhow::Result<Failover> {
        let limit = self.plan.failover_limit;
        let layout = self.stage.layout();
        let masters = self.redis()?.masters_of(&layout).await?;
        let shards = shards_of(&masters, node);
        let replicas = self.redis()?.replicas_of(node).await?;
        if replicas.is_empty() {
            bail!("node {node} has no replica to take over");
        }
        self.redis_mut()?.kill(node);
        let killed = Instant::now();
        let (promoted_node, promoted) = loop {
            self.stage.ensure_running()?;
            if let Some(promoted) = self.redis()?.promoted(&replicas).await {
                break (promoted, Instant::now());
            }
            if killed.elapsed() >= limit {
                bail!(
                    "no replica of node {node} (nodes {replicas:?}) was promoted within {limit:?}"
                );
            }
            tokio::time::sleep(PROMOTION_POLL).await;
        };
        let returning = Instant::now();
        self.redis_mut()?.restart(node).await?;
        self.redis()?.wait_until_ok(limit).await?;
        Ok(Failover {
            killed_node: node,
            promoted_node,
            shards,
            killed,
            promoted,
            returning,
            rejoined: Instant::now(),
        })
    }

    /// Checks that ingest and every worker still run their first life: no
    /// child exited, and none was started since `starts` children had been.
    pub fn check_no_restarts(&mut self, starts: u32, outcome: &mut Outcome) -> anyhow::Result<()> {
        self.stage.ensure_running()?;
        let now = self.stage.starts();
        if now == starts {
            outcome.notes.push(format!(
                "ingest and {WORKERS} workers ran throughout, none restarted ({starts} processes started in all)"
            ));
        } else {
            outcome.failures.push(format!(
                "{} child process(es) had to be started again",
                now - starts
            ));
        }
        Ok(())
    }
}

impl Failover {
    /// Nothing on its shards may be answered 2xx from the kill until the
    /// old master's return; they must answer 2xx again afterwards. The
    /// times go to the notes.
    pub fn judge(&self, label: &str, answered: &Answered, outcome: &mut Outcome) {
        let since = |at: Instant| seconds(at.saturating_duration_since(self.killed));
        let (down, _) = answered.between(&self.shards, self.killed + DYING, self.returning);
        if down.ok > 0 {
            outcome.failures.push(format!(
                "{label}: {} request(s) on shards {:?} answered 2xx while they could not be replicated",
                down.ok, self.shards
            ));
        }
        let back = answered.first_2xx(&self.shards, self.killed + DYING);
        match back {
            Some(back) => outcome.notes.push(format!(
                "{label}: promoted after {}, shard accepting after {} (node {} killed -9, master of shards {:?}; node {} promoted; node {} restarted at {}, in sync as a replica at {}; meanwhile the shards' requests: {})",
                since(self.promoted),
                since(back),
                self.killed_node,
                self.shards,
                self.promoted_node,
                self.killed_node,
                since(self.returning),
                since(self.rejoined),
                down.line(),
            )),
            None => outcome.failures.push(format!(
                "{label}: shards {:?} never answered 2xx again after node {} was killed",
                self.shards, self.killed_node
            )),
        }
    }
}

/// The shards `node` serves, given each shard's master.
fn shards_of(masters: &[usize], node: usize) -> Vec<usize> {
    (0..masters.len())
        .filter(|shard| masters[*shard] == node)
        .collect()
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
