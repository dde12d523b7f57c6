//! A scenario's own Redis Cluster (scenarios 9–11): testkit's six private
//! `redis-server`s, three masters each with one replica, seen the way the
//! suite needs them: which node serves which stream shard, `kill -9` and
//! restart, and whether a replica has been promoted yet.
//!
//! testkit fails a test by panicking when the cluster misbehaves (a node
//! that does not start, a cluster that does not settle in time). Here that
//! is a failed scenario, not a dead run: every call is guarded and a panic
//! becomes an error.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use anyhow::anyhow;
use clickstream::Layout;
use clickstream::layout::slot_of;
use futures_util::FutureExt;
use testkit::RedisCluster;

pub struct StageCluster {
    nodes: RedisCluster,
}

impl StageCluster {
    /// Starts the six nodes and waits until the cluster serves every slot.
    pub async fn start() -> anyhow::Result<Self> {
        let nodes = guarded("start the Redis Cluster", RedisCluster::start()).await?;
        Ok(Self { nodes })
    }

    /// `redis+cluster://…`, for `REDIS_URL`.
    pub fn url(&self) -> String {
        self.nodes.url()
    }

    /// The node serving each shard of `layout` as its master, shard 0 first.
    pub async fn masters_of(&self, layout: &Layout) -> anyhow::Result<Vec<usize>> {
        let mut masters = Vec::with_capacity(layout.shard_count());
        for stream in layout.streams() {
            let slot = slot_of(stream.as_bytes());
            let master = guarded(
                &format!("find the master of {stream} (slot {slot})"),
                self.nodes.master_of_slot(slot),
            )
            .await?;
            masters.push(master);
        }
        Ok(masters)
    }

    /// The running nodes that replicate node `node`.
    pub async fn replicas_of(&self, node: usize) -> anyhow::Result<Vec<usize>> {
        guarded(
            &format!("find the replicas of node {node}"),
            self.nodes.replicas_of(node),
        )
        .await
    }

    /// Whether one of `candidates` now serves slots as a master, by its own
    /// account; `None` while none does (or the nodes cannot tell yet).
    pub async fn promoted(&self, candidates: &[usize]) -> Option<usize> {
        let masters = guarded("ask the nodes for their roles", self.nodes.masters())
            .await
            .ok()?;
        candidates
            .iter()
            .copied()
            .find(|node| masters.contains(node))
    }

    /// `kill -9` of node `node`.
    pub fn kill(&mut self, node: usize) {
        self.nodes.kill(node);
    }

    /// Starts node `node` again on its port with its files (a master that
    /// was replaced meanwhile comes back as a replica); waits until it answers.
    pub async fn restart(&mut self, node: usize) -> anyhow::Result<()> {
        guarded(&format!("restart node {node}"), self.nodes.restart(node)).await
    }

    /// Waits until every running node agrees that every slot is served and
    /// every running replica is in sync with its master.
    pub async fn wait_until_ok(&self, limit: Duration) -> anyhow::Result<()> {
        guarded(
            "wait until the cluster is whole",
            self.nodes.wait_until_ok(limit),
        )
        .await
    }
}

/// Runs `future`, turning a panic into an error about `what`.
async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            anyhow!("cannot {what}: {message}")
        })
}
