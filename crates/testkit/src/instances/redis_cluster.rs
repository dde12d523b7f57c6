//! A private Redis Cluster: three masters, each with one replica, every node
//! a [`RedisInstance`] of its own on 127.0.0.1.
//!
//! Node `i < 3` starts as the master of a third of the slots (0–5460,
//! 5461–10922, 10923–16383, as `redis-cli --cluster create` splits them) and
//! node `i + 3` as its replica, so a test knows which node takes over when it
//! kills a master. The cluster is put together with `CLUSTER ADDSLOTSRANGE`,
//! `MEET` and `REPLICATE` rather than `redis-cli --cluster create`, which
//! pairs replicas with masters by rules of its own.
//!
//! Failovers are quick: a node silent for a second is failing
//! (`cluster-node-timeout 1000`), so a killed master is replaced within a few
//! seconds. Every node syncs its append-only file on every write: what a
//! master acknowledged, and `WAIT 1 …` confirmed on its replica, survives the
//! master's death.
//!
//! The inspection methods ask the running nodes (a killed one answers
//! nothing) and go by what each node says of itself.

use std::ops::{Range, RangeInclusive};
use std::time::{Duration, Instant};

use rand::Rng;
use redis::FromRedisValue;

mod report;
mod resharding;

use self::report::{NodeEntry, Report, check_ok};
use super::process::port_is_free;
use super::redis::RedisInstance;

const MASTERS: usize = 3;
const NODES: usize = 2 * MASTERS;
/// The slots each initial master serves.
const MASTER_SLOTS: [RangeInclusive<u16>; MASTERS] = [0..=5460, 5461..=10922, 10923..=16383];
/// A node talks to the other nodes on its port + 10000 (the cluster bus).
const BUS_PORT_OFFSET: u16 = 10_000;
/// Node ports are drawn from here, so that their bus ports (20000–29999) stay
/// below the kernel's ephemeral range (32768 and up): neither can be taken by
/// the local end of some outgoing connection while a node is down, and a
/// node's port is never another cluster's bus port.
const NODE_PORTS: Range<u16> = 10_000..20_000;
/// How long putting the cluster together may take: about 2 s, as a master
/// declares the cluster ok no sooner than 2 s after it started.
const FORM_LIMIT: Duration = Duration::from_secs(30);
/// How often the nodes are asked while waiting for a state.
const POLL: Duration = Duration::from_millis(50);

/// Six `redis-server` processes forming one cluster; all killed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisInstance>,
    /// Each node's cluster ID, which it keeps in its `nodes.conf` across restarts.
    ids: Vec<String>,
}

impl RedisCluster {
    /// Starts the six nodes, forms the cluster and waits until every node
    /// reports `cluster_state:ok`, all slots are served and replica `i + 3` is
    /// in sync with master `i`.
    pub async fn start() -> Self {
        let mut nodes = Vec::with_capacity(NODES);
        for port in free_node_ports(NODES) {
            nodes.push(RedisInstance::start_cluster_node(port).await);
        }
        let mut ids = Vec::with_capacity(NODES);
        for node in &nodes {
            let mut conn = node.admin_connection().await.expect("a new cluster node");
            let id: String = redis::cmd("CLUSTER")
                .arg("MYID")
                .query_async(&mut conn)
                .await
                .expect("CLUSTER MYID");
            ids.push(id);
        }
        let cluster = Self { nodes, ids };
        cluster.form().await;
        cluster
    }

    /// `redis+cluster://127.0.0.1:<p0>,127.0.0.1:<p1>,127.0.0.1:<p2>`: the
    /// initial masters, whatever their role now (a client learns the rest
    /// from any of them).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes[..MASTERS]
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// A cluster client seeded with the initial masters, as [`url`](Self::url) is.
    pub fn client(&self) -> redis::cluster::ClusterClient {
        redis::cluster::ClusterClient::new(
            self.nodes[..MASTERS]
                .iter()
                .map(RedisInstance::url)
                .collect::<Vec<_>>(),
        )
        .expect("cluster client")
    }

    /// `redis://127.0.0.1:<port of node i>`.
    pub fn node_url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port()
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].is_running()
    }

    /// The running nodes that are masters serving slots, by their own account.
    pub async fn masters(&self) -> Vec<usize> {
        self.reports_or_panic()
            .await
            .iter()
            .enumerate()
            .filter_map(|(i, report)| {
                let myself = report.as_ref()?.myself()?;
                (myself.is_master() && !myself.slots.is_empty()).then_some(i)
            })
            .collect()
    }

    /// The running master serving `slot`. Panics unless exactly one node
    /// claims it, as during a failover: call [`wait_until_ok`](Self::wait_until_ok) first.
    pub async fn master_of_slot(&self, slot: u16) -> usize {
        let claims: Vec<usize> = self
            .reports_or_panic()
            .await
            .iter()
            .enumerate()
            .filter_map(|(i, report)| {
                let myself = report.as_ref()?.myself()?;
                let serves = myself.slots.iter().any(|range| range.contains(&slot));
                (myself.is_master() && serves).then_some(i)
            })
            .collect();
        match claims[..] {
            [master] => master,
            _ => panic!("slot {slot} is claimed by nodes {claims:?}, not by exactly one"),
        }
    }

    /// The running nodes that replicate node `i`, by their own account.
    pub async fn replicas_of(&self, i: usize) -> Vec<usize> {
        let master_id = &self.ids[i];
        self.reports_or_panic()
            .await
            .iter()
            .enumerate()
            .filter_map(|(j, report)| {
                let myself = report.as_ref()?.myself()?;
                (myself.is_replica() && myself.master_id.as_ref() == Some(master_id)).then_some(j)
            })
            .collect()
    }

    /// SIGKILL node `i`: nothing it acknowledged is lost (append-only file,
    /// `appendfsync always`), and the others notice only by its silence.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Graceful shutdown (SIGTERM) of node `i`. Redis 7.0 does not hand a
    /// master's slots over on shutdown: its replica takes over as after a kill.
    pub async fn stop(&mut self, i: usize) {
        self.nodes[i].stop().await;
    }

    /// Starts node `i` again on its port with its directory: it rejoins with
    /// its `nodes.conf`, and a master that was replaced meanwhile comes back
    /// as a replica of the node that took over. Waits only until it answers
    /// `PING`; [`wait_until_ok`](Self::wait_until_ok) waits until it has rejoined.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].restart().await;
    }

    /// Waits until every running node reports `cluster_state:ok` and names
    /// the same node for every slot, that node a running master, and every
    /// running replica is in sync with its master (`master_link_status:up`).
    /// Panics after `limit`.
    pub async fn wait_until_ok(&self, limit: Duration) {
        self.wait_until(limit, "ok", |reports| check_ok(&self.ids, reports))
            .await;
    }

    /// Waits until the slots of node `i`, killed or stopped, are served by
    /// another node, that is, until the cluster is [ok](Self::wait_until_ok)
    /// without node `i`. Panics after `limit`, or if node `i` runs.
    pub async fn wait_for_failover_of(&self, i: usize, limit: Duration) {
        assert!(
            !self.nodes[i].is_running(),
            "node {i} runs: kill or stop it before waiting for its failover"
        );
        self.wait_until(limit, &format!("failed over from node {i}"), |reports| {
            check_ok(&self.ids, reports)
        })
        .await;
    }

    async fn form(&self) {
        for i in 0..NODES {
            // Distinct epochs from the start, as redis-cli sets them: masters
            // sharing an epoch settle it only after extra rounds of gossip.
            self.command::<()>(i, redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))
                .await
                .unwrap_or_else(|error| panic!("node {i}: SET-CONFIG-EPOCH: {error}"));
        }
        for (i, slots) in MASTER_SLOTS.iter().enumerate() {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("ADDSLOTSRANGE").arg(slots.start()).arg(slots.end());
            self.command::<()>(i, &cmd)
                .await
                .unwrap_or_else(|error| panic!("node {i}: ADDSLOTSRANGE: {error}"));
        }
        for j in 1..NODES {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("MEET").arg("127.0.0.1").arg(self.nodes[j].port());
            self.command::<()>(0, &cmd)
                .await
                .unwrap_or_else(|error| panic!("node 0: MEET node {j}: {error}"));
        }
        let deadline = Instant::now() + FORM_LIMIT;
        for master in 0..MASTERS {
            let replica = master + MASTERS;
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("REPLICATE").arg(&self.ids[master]);
            // A node can follow a master only once gossip has told it of that
            // master ("Unknown node" until then).
            while let Err(error) = self.command::<()>(replica, &cmd).await {
                assert!(
                    Instant::now() < deadline,
                    "node {replica} cannot replicate node {master} after {FORM_LIMIT:?}: {error}; {}",
                    self.logs()
                );
                tokio::time::sleep(POLL).await;
            }
        }
        let limit = deadline.saturating_duration_since(Instant::now());
        self.wait_until(limit, "formed", |reports| {
            check_ok(&self.ids, reports)?;
            self.check_initial_pairs(reports)
        })
        .await;
    }

    async fn wait_until<F>(&self, limit: Duration, what: &str, check: F)
    where
        F: Fn(&[Option<Report>]) -> Result<(), String>,
    {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.reports().await {
                Ok(reports) => match check(&reports) {
                    Ok(()) => return,
                    Err(error) => error,
                },
                Err(error) => error,
            };
            assert!(
                Instant::now() < deadline,
                "cluster not {what} after {limit:?}: {last}; {}",
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Master `i` serves its initial slots and node `i + 3` replicates it.
    fn check_initial_pairs(&self, reports: &[Option<Report>]) -> Result<(), String> {
        let myself = |i: usize| reports[i].as_ref().and_then(Report::myself);
        for (master, slots) in MASTER_SLOTS.iter().enumerate() {
            let serves = |entry: &NodeEntry| entry.is_master() && entry.slots == [slots.clone()];
            if !myself(master).is_some_and(serves) {
                return Err(format!("node {master} does not serve slots {slots:?}"));
            }
            let replica = master + MASTERS;
            let follows = |entry: &NodeEntry| entry.master_id.as_ref() == Some(&self.ids[master]);
            if !myself(replica).is_some_and(follows) {
                return Err(format!("node {replica} does not replicate node {master}"));
            }
        }
        Ok(())
    }

    /// What each running node says (`None` for a node that does not run).
    async fn reports(&self) -> Result<Vec<Option<Report>>, String> {
        let mut reports = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.is_running() {
                reports.push(None);
                continue;
            }
            let report = Report::ask(node)
                .await
                .map_err(|error| format!("node {i}: {error}"))?;
            reports.push(Some(report));
        }
        Ok(reports)
    }

    async fn reports_or_panic(&self) -> Vec<Option<Report>> {
        self.reports()
            .await
            .unwrap_or_else(|error| panic!("{error}; {}", self.logs()))
    }

    async fn command<T: FromRedisValue>(&self, i: usize, cmd: &redis::Cmd) -> Result<T, String> {
        let mut conn = self.nodes[i].admin_connection().await?;
        cmd.query_async(&mut conn)
            .await
            .map_err(|error| error.to_string())
    }

    /// Where to look when the cluster misbehaves.
    fn logs(&self) -> String {
        let logs: Vec<String> = self
            .nodes
            .iter()
            .map(|node| node.dir().join("redis.log").display().to_string())
            .collect();
        format!("node logs: {}", logs.join(" "))
    }
}

/// `count` distinct ports of 127.0.0.1 that are free, and whose bus ports are.
fn free_node_ports(count: usize) -> Vec<u16> {
    let mut rng = rand::rng();
    let mut ports = Vec::with_capacity(count);
    for _ in 0..10_000 {
        if ports.len() == count {
            break;
        }
        let port = rng.random_range(NODE_PORTS);
        if !ports.contains(&port) && port_is_free(port) && port_is_free(port + BUS_PORT_OFFSET) {
            ports.push(port);
        }
    }
    assert_eq!(
        ports.len(),
        count,
        "not enough free port pairs in {NODE_PORTS:?} (+{BUS_PORT_OFFSET})"
    );
    ports
}
