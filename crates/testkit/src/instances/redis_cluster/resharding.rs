//! Moving one slot from its master to another while clients use it, the way
//! `redis-cli --cluster reshard` does: clients meet `ASK` while the keys
//! move and `MOVED` once the slot has its new owner.

use std::time::Duration;

use super::RedisCluster;

/// Keys moved per `MIGRATE`.
const KEYS_PER_MIGRATE: usize = 100;
/// How long one `MIGRATE` may take, in milliseconds.
const MIGRATE_TIMEOUT_MS: u64 = 5_000;

impl RedisCluster {
    /// Moves `slot` with its keys from its master to master `to`, pausing
    /// `between` after each batch of keys so clients run into the migration.
    pub async fn move_slot(&self, slot: u16, to: usize, between: Duration) {
        let from = self.master_of_slot(slot).await;
        assert_ne!(from, to, "slot {slot} is already on node {to}");
        let cluster = |args: &[&str]| {
            let mut cmd = redis::cmd("CLUSTER");
            for arg in args {
                cmd.arg(*arg);
            }
            cmd
        };
        let slot_text = slot.to_string();
        let run = |node: usize, cmd: redis::Cmd, what: &'static str| async move {
            self.command::<()>(node, &cmd)
                .await
                .unwrap_or_else(|error| panic!("node {node}: {what}: {error}"));
        };
        run(
            to,
            cluster(&["SETSLOT", &slot_text, "IMPORTING", &self.ids[from]]),
            "IMPORTING",
        )
        .await;
        run(
            from,
            cluster(&["SETSLOT", &slot_text, "MIGRATING", &self.ids[to]]),
            "MIGRATING",
        )
        .await;
        loop {
            let keys: Vec<String> = self
                .command(
                    from,
                    &cluster(&["GETKEYSINSLOT", &slot_text, &KEYS_PER_MIGRATE.to_string()]),
                )
                .await
                .unwrap_or_else(|error| panic!("node {from}: GETKEYSINSLOT: {error}"));
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(self.port(to))
                .arg("")
                .arg(0)
                .arg(MIGRATE_TIMEOUT_MS)
                .arg("KEYS")
                .arg(&keys);
            let _: redis::Value = self
                .command(from, &migrate)
                .await
                .unwrap_or_else(|error| panic!("node {from}: MIGRATE: {error}"));
            tokio::time::sleep(between).await;
        }
        // The new owner first, then the old one and every other master.
        for node in std::iter::once(to).chain(std::iter::once(from)).chain(
            self.masters()
                .await
                .into_iter()
                .filter(|node| *node != to && *node != from),
        ) {
            run(
                node,
                cluster(&["SETSLOT", &slot_text, "NODE", &self.ids[to]]),
                "SETSLOT NODE",
            )
            .await;
        }
    }
}
