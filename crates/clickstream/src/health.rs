//! What the health endpoints say about Redis: one node, or a cluster that
//! is whole, degraded (a node down, a master without a replica, but every
//! slot served) or down (some slot has no master).

use redis::aio::ConnectionLike;
use redis::{RedisResult, Value};

use crate::layout::SLOTS;

/// The state of the Redis behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisState {
    /// One node, not in cluster mode.
    Standalone,
    /// One node of a cluster, reached as if it were standalone.
    ClusterNode { cluster_state_ok: bool },
    /// A cluster, reached as a cluster.
    Cluster(ClusterHealth),
}

/// A cluster as one of its nodes sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterHealth {
    /// `cluster_state:ok`: every slot is served.
    pub state_ok: bool,
    /// Slots served by a reachable master.
    pub slots_ok: u32,
    pub masters: u32,
    pub replicas: u32,
    /// Nodes flagged `fail` or `fail?`.
    pub failing_nodes: u32,
    /// Masters serving slots with no connected replica: one more failure loses their slots.
    pub masters_without_replica: u32,
}

impl ClusterHealth {
    /// Every slot is served.
    pub fn is_ok(&self) -> bool {
        self.state_ok && self.slots_ok == u32::from(SLOTS)
    }

    /// Serving, but one failure away from losing slots (or some node is down).
    pub fn is_degraded(&self) -> bool {
        self.failing_nodes > 0 || self.masters_without_replica > 0
    }

    pub fn summary(&self) -> String {
        format!(
            "cluster_state {}, {} of {SLOTS} slots served, {} masters, {} replicas, {} nodes failing",
            if self.state_ok { "ok" } else { "fail" },
            self.slots_ok,
            self.masters,
            self.replicas,
            self.failing_nodes
        )
    }
}

/// `PING`: the cheapest proof that commands get answers.
pub async fn ping(conn: &mut (impl ConnectionLike + Send)) -> RedisResult<()> {
    let _: String = redis::cmd("PING").query_async(conn).await?;
    Ok(())
}

/// The health check: `Ok(None)` for a node that answers, `Ok(Some(_))` for a
/// cluster that serves every slot, `Err` otherwise (with the reason).
pub async fn check(conn: &mut crate::Conn) -> Result<Option<ClusterHealth>, String> {
    if !matches!(conn, crate::Conn::Cluster(_)) {
        return ping(conn)
            .await
            .map(|()| None)
            .map_err(|error| error.to_string());
    }
    match state(conn).await.map_err(|error| error.to_string())? {
        RedisState::Cluster(health) if health.is_ok() => Ok(Some(health)),
        RedisState::Cluster(health) => Err(health.summary()),
        _ => Err("REDIS_URL names a cluster but the node is not in cluster mode".to_owned()),
    }
}

/// Asks `CLUSTER INFO` and `CLUSTER NODES`; a node not in cluster mode answers `Standalone`.
pub async fn state(conn: &mut crate::Conn) -> RedisResult<RedisState> {
    if !matches!(conn, crate::Conn::Cluster(_)) {
        let info: String = redis::cmd("INFO").arg("cluster").query_async(conn).await?;
        if !info.contains("cluster_enabled:1") {
            return Ok(RedisState::Standalone);
        }
        let cluster: String = redis::cmd("CLUSTER").arg("INFO").query_async(conn).await?;
        return Ok(RedisState::ClusterNode {
            cluster_state_ok: info_field(&cluster, "cluster_state") == Some("ok"),
        });
    }
    let info: RedisResult<String> = redis::cmd("CLUSTER").arg("INFO").query_async(conn).await;
    let info = match info {
        Ok(info) => info,
        Err(error) if error.to_string().contains("cluster support disabled") => {
            return Ok(RedisState::Standalone);
        }
        Err(error) => return Err(error),
    };
    let nodes = cluster_nodes_text(conn).await?;
    Ok(RedisState::Cluster(cluster_health(&info, &nodes)))
}

/// `CLUSTER NODES` as text, however the connection's protocol returns it.
pub(crate) async fn cluster_nodes_text(
    conn: &mut (impl ConnectionLike + Send),
) -> RedisResult<String> {
    let nodes: Value = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await?;
    Ok(match nodes {
        Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Value::VerbatimString { text, .. } => text,
        Value::SimpleString(text) => text,
        _ => String::new(),
    })
}

/// The `host:port` of every node `CLUSTER NODES` names that has an address
/// (`<addr>` is `host:port@bus-port[,hostname]`).
pub(crate) fn node_addresses(nodes: &str) -> Vec<String> {
    node_rows(nodes)
        .iter()
        .filter(|row| !row[2].split(',').any(|flag| flag == "noaddr"))
        .filter_map(|row| row[1].split(['@', ',']).next())
        .filter(|address| !address.starts_with(':'))
        .map(str::to_owned)
        .collect()
}

/// `CLUSTER NODES`, one row of fields per node:
/// `<id> <addr> <flags> <master-id> <ping> <pong> <epoch> <link> <slot>…`.
fn node_rows(nodes: &str) -> Vec<Vec<&str>> {
    nodes
        .lines()
        .map(|line| line.split_whitespace().collect())
        .filter(|fields: &Vec<&str>| fields.len() >= 8)
        .collect()
}

pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.trim().split_once(':')?;
        (key == name).then_some(value)
    })
}

/// Reads `CLUSTER INFO` and `CLUSTER NODES` text.
fn cluster_health(info: &str, nodes: &str) -> ClusterHealth {
    let number = |name: &str| {
        info_field(info, name)
            .and_then(|value| value.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let slots_ok = number("cluster_slots_ok");
    let mut health = ClusterHealth {
        state_ok: info_field(info, "cluster_state") == Some("ok"),
        slots_ok,
        masters: 0,
        replicas: 0,
        failing_nodes: 0,
        masters_without_replica: 0,
    };
    let rows = node_rows(nodes);
    let failing = |flags: &str| {
        flags
            .split(',')
            .any(|flag| flag == "fail" || flag == "fail?")
    };
    for row in &rows {
        let flags = row[2];
        if failing(flags) {
            health.failing_nodes += 1;
        }
        if flags.contains("master") && !failing(flags) && row.len() > 8 {
            health.masters += 1;
            let replicated = rows.iter().any(|replica| {
                replica[3] == row[0] && !failing(replica[2]) && replica[7] == "connected"
            });
            if !replicated {
                health.masters_without_replica += 1;
            }
        } else if flags.contains("slave") && !failing(flags) {
            health.replicas += 1;
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str =
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n";

    #[test]
    fn a_whole_cluster_is_ok_and_not_degraded() {
        let nodes = "\
a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
c 127.0.0.1:7002@17002 master - 0 0 3 connected 10923-16383
d 127.0.0.1:7003@17003 slave a 0 0 1 connected
e 127.0.0.1:7004@17004 slave b 0 0 2 connected
f 127.0.0.1:7005@17005 slave c 0 0 3 connected
";
        let health = cluster_health(INFO, nodes);
        assert!(health.is_ok());
        assert!(!health.is_degraded());
        assert_eq!((health.masters, health.replicas), (3, 3));
    }

    #[test]
    fn a_failed_over_master_leaves_the_cluster_degraded() {
        let nodes = "\
a 127.0.0.1:7000@17000 master,fail - 0 0 1 disconnected
b 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 5461-10922
c 127.0.0.1:7002@17002 master - 0 0 3 connected 10923-16383
d 127.0.0.1:7003@17003 master - 0 0 7 connected 0-5460
e 127.0.0.1:7004@17004 slave b 0 0 2 connected
f 127.0.0.1:7005@17005 slave c 0 0 3 connected
";
        let health = cluster_health(INFO, nodes);
        assert!(health.is_ok());
        assert!(health.is_degraded());
        assert_eq!(health.failing_nodes, 1);
        assert_eq!(health.masters_without_replica, 1);
    }

    #[test]
    fn every_node_with_an_address_is_listed() {
        let nodes = "\
a 127.0.0.1:7000@17000,host-a myself,master - 0 0 1 connected 0-16383
b 127.0.0.1:7001@17001 slave a 0 0 1 connected
c :0@0 noaddr,master - 0 0 0 disconnected
";
        assert_eq!(
            node_addresses(nodes),
            vec!["127.0.0.1:7000".to_owned(), "127.0.0.1:7001".to_owned()]
        );
    }

    #[test]
    fn a_slot_without_master_is_not_ok() {
        let info = "cluster_state:fail\r\ncluster_slots_ok:10923\r\n";
        let health = cluster_health(info, "");
        assert!(!health.is_ok());
        assert!(health.summary().contains("10923 of 16384"));
    }
}
