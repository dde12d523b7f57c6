//! What the nodes of a [`RedisCluster`](super::RedisCluster) say about the
//! cluster (`CLUSTER INFO`, `CLUSTER NODES`, `INFO replication`), and whether
//! that makes a cluster a client can use.

use std::ops::RangeInclusive;

use crate::instances::redis::RedisInstance;

const SLOT_COUNT: usize = 16384;

/// What one running node says about the cluster.
pub(super) struct Report {
    state_ok: bool,
    /// Its `CLUSTER NODES`: every node it knows, itself included.
    entries: Vec<NodeEntry>,
    /// `master_link_status:up` (a replica in sync with its master).
    link_up: bool,
}

impl Report {
    pub(super) async fn ask(node: &RedisInstance) -> Result<Self, String> {
        let mut conn = node.admin_connection().await?;
        let query = |command: &str, arg: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(arg);
            cmd
        };
        let info: String = query("CLUSTER", "INFO")
            .query_async(&mut conn)
            .await
            .map_err(|error| error.to_string())?;
        let nodes: String = query("CLUSTER", "NODES")
            .query_async(&mut conn)
            .await
            .map_err(|error| error.to_string())?;
        let replication: String = query("INFO", "replication")
            .query_async(&mut conn)
            .await
            .map_err(|error| error.to_string())?;
        Ok(Self {
            state_ok: info.lines().any(|line| line.trim() == "cluster_state:ok"),
            entries: nodes.lines().filter_map(NodeEntry::parse).collect(),
            link_up: replication
                .lines()
                .any(|line| line.trim() == "master_link_status:up"),
        })
    }

    pub(super) fn myself(&self) -> Option<&NodeEntry> {
        self.entries.iter().find(|entry| entry.has_flag("myself"))
    }
}

/// One line of `CLUSTER NODES`:
/// `<id> <ip:port@bus> <flags> <master id or -> <ping> <pong> <epoch> <link> <slots…>`.
pub(super) struct NodeEntry {
    id: String,
    flags: Vec<String>,
    pub(super) master_id: Option<String>,
    pub(super) slots: Vec<RangeInclusive<u16>>,
}

impl NodeEntry {
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        let id = fields.next()?.to_owned();
        let _address = fields.next()?;
        let flags = fields.next()?.split(',').map(str::to_owned).collect();
        let master_id = Some(fields.next()?)
            .filter(|master| *master != "-")
            .map(str::to_owned);
        let slots = fields.skip(4).filter_map(parse_slots).collect();
        Some(Self {
            id,
            flags,
            master_id,
            slots,
        })
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|own| own == flag)
    }

    pub(super) fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    pub(super) fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }
}

/// `5461-10922` or `42`; `None` for a slot being migrated (`[42->-<id>]`).
fn parse_slots(field: &str) -> Option<RangeInclusive<u16>> {
    match field.split_once('-') {
        _ if field.starts_with('[') => None,
        Some((first, last)) => Some(first.parse().ok()?..=last.parse().ok()?),
        None => {
            let slot = field.parse().ok()?;
            Some(slot..=slot)
        }
    }
}

/// Every running node reports `cluster_state:ok` and names the same node for
/// every slot, that node a running master; every running replica is in sync
/// with its master. `ids` are the cluster's node IDs, by index.
pub(super) fn check_ok(ids: &[String], reports: &[Option<Report>]) -> Result<(), String> {
    let serving_master: Vec<bool> = reports
        .iter()
        .map(|report| {
            report
                .as_ref()
                .and_then(Report::myself)
                .is_some_and(NodeEntry::is_master)
        })
        .collect();
    let mut agreed: Option<(usize, Vec<Option<usize>>)> = None;
    for (i, report) in reports.iter().enumerate() {
        let Some(report) = report else { continue };
        if !report.state_ok {
            return Err(format!("node {i}: cluster_state is not ok"));
        }
        let myself = report
            .myself()
            .ok_or_else(|| format!("node {i}: no `myself` in CLUSTER NODES"))?;
        if myself.is_replica() && !report.link_up {
            return Err(format!("node {i}: a replica not in sync with its master"));
        }
        let owners = slot_owners(ids, report)?;
        for (slot, owner) in owners.iter().enumerate() {
            match owner {
                None => return Err(format!("node {i}: slot {slot} is not served")),
                Some(owner) if !serving_master[*owner] => {
                    return Err(format!(
                        "node {i}: slot {slot} is served by node {owner}, down or no master"
                    ));
                }
                Some(_) => {}
            }
        }
        match &agreed {
            None => agreed = Some((i, owners)),
            Some((first, seen)) => {
                if let Some(slot) = (0..SLOT_COUNT).find(|slot| seen[*slot] != owners[*slot]) {
                    return Err(format!(
                        "nodes {first} and {i} disagree on who serves slot {slot}"
                    ));
                }
            }
        }
    }
    match agreed {
        Some(_) => Ok(()),
        None => Err("no node runs".to_owned()),
    }
}

/// Who serves each slot, as one node sees it.
fn slot_owners(ids: &[String], report: &Report) -> Result<Vec<Option<usize>>, String> {
    let mut owners = vec![None; SLOT_COUNT];
    for entry in report
        .entries
        .iter()
        .filter(|entry| !entry.slots.is_empty())
    {
        let owner = ids
            .iter()
            .position(|id| *id == entry.id)
            .ok_or_else(|| format!("a node not of this cluster serves slots: {}", entry.id))?;
        for range in &entry.slots {
            for slot in range.clone() {
                owners[usize::from(slot)] = Some(owner);
            }
        }
    }
    Ok(owners)
}
