//! A MariaDB primary and a replica of it: two private `mariadbd`s with real
//! binlog replication (row-based, GTID), for tests of reads from a replica.
//!
//! Both start from the same template data directory, so the replica needs
//! no copy of the primary's data: it replays the primary's binlog from its
//! first event (an empty `gtid_slave_pos`), which holds everything done on
//! the primary since it started — the replication user, each test
//! database, its migrations and rows. Startup is two server starts.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::mariadb::MariaDbInstance;
use crate::TestDb;

/// The account the replica connects to the primary with.
const REPLICATION_USER: &str = "replicator";
const REPLICATION_PASSWORD: &str = "replicator-password";
/// Longest wait for the replica to apply everything the primary has.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

/// A primary and its replica; both killed on drop.
pub struct MariaDbReplicaPair {
    pub primary: MariaDbInstance,
    pub replica: MariaDbInstance,
}

impl MariaDbReplicaPair {
    /// Starts both servers and replication, and waits until the replica
    /// has caught up with the primary.
    pub async fn start() -> Self {
        let (primary, replica) = tokio::join!(
            MariaDbInstance::start_with(false, |dir| binlog_options(dir, 1)),
            MariaDbInstance::start_with(false, |dir| binlog_options(dir, 2)),
        );
        primary
            .execute(&format!(
                "CREATE USER '{REPLICATION_USER}'@'127.0.0.1' IDENTIFIED BY '{REPLICATION_PASSWORD}'"
            ))
            .await;
        primary
            .execute(&format!(
                "GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'127.0.0.1'"
            ))
            .await;
        replica.execute("SET GLOBAL gtid_slave_pos = ''").await;
        replica
            .execute(&format!(
                "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
                 MASTER_USER = '{REPLICATION_USER}', MASTER_PASSWORD = '{REPLICATION_PASSWORD}', \
                 MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
                primary.port()
            ))
            .await;
        replica.execute("START SLAVE").await;
        let pair = Self { primary, replica };
        pair.wait_for_catch_up().await;
        pair
    }

    /// A fresh migrated database on the primary, already on the replica too.
    pub async fn create_db(&self) -> TestDb {
        let db = self.primary.create_db().await;
        self.wait_for_catch_up().await;
        db
    }

    /// The URL of `db` on the replica (what `DATABASE_READ_URL` would be).
    pub fn replica_url_of(&self, db: &TestDb) -> String {
        format!("{}/{}", self.replica.url(), db.name)
    }

    /// Waits until the replica has applied every transaction the primary
    /// has committed so far; panics after [`CATCH_UP_LIMIT`] (for instance
    /// while replication is paused).
    pub async fn wait_for_catch_up(&self) {
        let position = scalar(&self.primary, "SELECT @@gtid_binlog_pos").await;
        let waited = scalar(
            &self.replica,
            &format!(
                "SELECT CAST(MASTER_GTID_WAIT('{position}', {}) AS CHAR)",
                CATCH_UP_LIMIT.as_secs()
            ),
        )
        .await;
        assert_eq!(
            waited, "0",
            "the replica did not reach the primary's {position} in {CATCH_UP_LIMIT:?}"
        );
    }

    /// Stops applying (`STOP SLAVE SQL_THREAD`): the replica still receives
    /// the primary's binlog but its data stays as it is, lagging further
    /// behind with every commit on the primary.
    pub async fn pause_replication(&self) {
        self.replica.execute("STOP SLAVE SQL_THREAD").await;
    }

    /// Applies again what arrived while paused (`START SLAVE SQL_THREAD`).
    pub async fn resume_replication(&self) {
        self.replica.execute("START SLAVE SQL_THREAD").await;
    }
}

/// What makes a server a member of a replication pair: its own server id
/// and a binlog in its directory (the replica's is unused, but a replica
/// with one can be promoted, like in production).
fn binlog_options(dir: &std::path::Path, server_id: u32) -> Vec<String> {
    vec![
        format!("--server-id={server_id}"),
        format!("--log-bin={}", dir.join("binlog").display()),
        "--binlog-format=ROW".to_owned(),
        format!("--relay-log={}", dir.join("relay").display()),
    ]
}

/// The first column of the first row of `sql` on `instance`, as text.
async fn scalar(instance: &MariaDbInstance, sql: &str) -> String {
    let conn = storage::connect(&instance.url(), 1)
        .await
        .unwrap_or_else(|error| panic!("connect to {}: {error}", instance.url()));
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::MySql, sql))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    conn.close().await.ok();
    row.try_get_by_index::<Option<String>>(0)
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .unwrap_or_default()
}
