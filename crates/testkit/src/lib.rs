//! Fresh, isolated state for tests: a new MariaDB/MySQL database with every
//! migration applied, and a new stream name, per test.
//!
//! The servers come from `TEST_DATABASE_URL` (default
//! `mysql://root@127.0.0.1:3306`, no database part) and `TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Tests that stop, kill or restart a
//! server use a private one from [`instances`] instead; [`proxy`] spreads a
//! client's connections over several servers.

pub mod http;
pub mod instances;
pub mod metrics;
pub mod proxy;

pub use instances::{
    MariaDbInstance, MariaDbReplicaPair, RedisCluster, RedisInstance, RedisOptions, TlsFiles,
};
use migration::{Migrator, MigratorTrait};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection};

pub const DEFAULT_MYSQL_SERVER: &str = "mysql://root@127.0.0.1:3306";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Every database a test creates starts with this; `make test` drops leftovers.
pub const TEST_DATABASE_PREFIX: &str = "clicks_test_";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A short random suffix for names that must not collide between tests.
pub fn unique_suffix() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// A database of its own, migrated. Call [`TestDb::drop`] at the end.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub conn: DatabaseConnection,
    server: DatabaseConnection,
}

impl TestDb {
    /// On the shared test server (`TEST_DATABASE_URL`).
    pub async fn create() -> Self {
        Self::create_on(&env_or("TEST_DATABASE_URL", DEFAULT_MYSQL_SERVER)).await
    }

    /// On the server at `server_url` (no database part), e.g. a [`MariaDbInstance`].
    pub async fn create_on(server_url: &str) -> Self {
        let server_url = server_url.trim_end_matches('/').to_owned();
        let server = storage::connect(&server_url, 1)
            .await
            .expect("connect to the test MySQL server");
        let name = format!("{TEST_DATABASE_PREFIX}{}", unique_suffix());
        server
            .execute_unprepared(&format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))
            .await
            .expect("create test database");
        let url = format!("{server_url}/{name}");
        let conn = storage::connect(&url, 8)
            .await
            .expect("connect to test database");
        Migrator::up(&conn, None)
            .await
            .expect("migrate test database");
        Self {
            name,
            url,
            conn,
            server,
        }
    }

    /// A connection to the test server itself (no database selected).
    pub async fn server() -> DatabaseConnection {
        let server_url = env_or("TEST_DATABASE_URL", DEFAULT_MYSQL_SERVER);
        storage::connect(server_url.trim_end_matches('/'), 1)
            .await
            .expect("connect to the test MySQL server")
    }

    /// Polls `clicks` until it holds `expected` rows (or 5 s pass), waits a
    /// little for stragglers, and returns the final count: a test then
    /// asserts it is exactly `expected` — nothing lost, nothing extra.
    pub async fn settled_click_count(&self, expected: u64) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.click_count().await < expected && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // A duplicate still in flight would show up now.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.click_count().await
    }

    /// How many clicks are stored.
    pub async fn click_count(&self) -> u64 {
        storage::inspect::clicks_count(&self.conn)
            .await
            .expect("count the clicks")
    }

    /// Waits (at most 5 s) until a running worker's aggregator has folded
    /// every stored batch's counts into the aggregates. Lanes driven by a
    /// test without an aggregator fold with `storage::aggregates::fold_all`.
    pub async fn settled_aggregates(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let pending = storage::aggregates::pending_deltas(&self.conn)
                .await
                .expect("count the pending deltas");
            if pending == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pending} deltas still not folded into the aggregates after 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Once the aggregates are settled, the daily aggregate groups whose
    /// `clicks_count` differs from a `COUNT(*)` over `clicks` (0 when every
    /// click was counted exactly once), and the daily aggregate's total.
    pub async fn daily_mismatches_and_total(&self) -> (u64, u64) {
        self.settled_aggregates().await;
        let checks = storage::aggregates::audit(&self.conn)
            .await
            .expect("audit the aggregates");
        let daily = checks
            .iter()
            .find(|check| check.table == "click_daily_stats")
            .expect("the daily aggregate is audited");
        (daily.wrong_groups, daily.total)
    }

    /// Runs one query returning a single unsigned integer.
    pub async fn scalar(&self, sql: &str) -> u64 {
        let row = self
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::MySql,
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("one row");
        let value: Option<i64> = row.try_get_by_index(0).expect("integer column");
        value.map_or(0, |v| u64::try_from(v).expect("non-negative"))
    }

    pub async fn drop(self) {
        self.conn.close().await.ok();
        self.server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .expect("drop test database");
    }
}

/// A stream key of its own on the test Redis (one node or a cluster). Call
/// [`TestStream::drop`] at the end.
pub struct TestStream {
    pub redis_url: String,
    pub key: String,
    pub redis: clickstream::Redis,
}

impl TestStream {
    /// On the shared test Redis (`TEST_REDIS_URL`).
    pub fn create() -> Self {
        Self::create_on(&env_or("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    }

    /// On the Redis at `redis_url`, e.g. a [`RedisInstance`] or a [`RedisCluster`].
    pub fn create_on(redis_url: &str) -> Self {
        let redis = clickstream::Redis::new(&clickstream::RedisSettings::from_url(redis_url))
            .expect("a usable test Redis URL");
        Self {
            redis_url: redis_url.to_owned(),
            key: format!("clicks-test-{}", unique_suffix()),
            redis,
        }
    }

    /// A worker's command line on this stream and the database at
    /// `database_url`, its probes on a free port, then `extra` flags.
    pub fn worker_args(
        &self,
        database_url: &str,
        extra: impl IntoIterator<Item = String>,
    ) -> Vec<String> {
        let mut args = vec![
            "worker".to_owned(),
            format!("--database-url={database_url}"),
            format!("--redis-url={}", self.redis_url),
            format!("--clicks-queue-name={}", self.key),
            "--worker-bind=127.0.0.1:0".to_owned(),
        ];
        args.extend(extra);
        args
    }

    /// The stream's keys split into `shards`, as ingest and the worker split them.
    pub fn layout(&self, shards: u32) -> clickstream::Layout {
        clickstream::Layout::new(&self.key, shards)
    }

    pub async fn conn(&self) -> clickstream::Conn {
        self.redis
            .dedicated(std::time::Duration::from_secs(10))
            .await
            .expect("redis connection")
    }

    /// Deletes every key of this test: the stream's shards (up to 64) and
    /// their dead-letter streams, and on one node whatever else starts with its name.
    pub async fn drop(self) {
        let mut conn = self.conn().await;
        clickstream::admin::delete_queue(&mut conn, &self.key, 64)
            .await
            .expect("delete the test's keys");
    }
}

/// A valid click numbered `n`: offers and sources cycle so aggregates group.
pub fn click(prefix: &str, n: u64) -> domain::Click {
    use chrono::TimeZone;
    domain::Click {
        click_id: format!("{prefix}-{n}"),
        offer_id: domain::OfferId::new(100 + n % 7).expect("positive"),
        source: format!("network_{}", n % 3),
        timestamp: chrono::Utc
            .with_ymd_and_hms(2025, 6, 10 + (n % 2) as u32, 12, 0, 0)
            .single()
            .expect("valid date"),
        signature: format!("sig-{n}"),
    }
}

/// Appends clicks to `layout`'s shards one entry per click: the form ingest
/// writes for a click that arrives alone. Tests that count entries (pending,
/// claimed, trimmed) rely on it; [`xadd_packed`] writes packs.
pub async fn xadd_clicks(
    conn: &mut clickstream::Conn,
    layout: &clickstream::Layout,
    clicks: &[domain::Click],
) {
    for click in clicks {
        append(conn, layout, std::slice::from_ref(click)).await;
    }
}

/// Appends clicks to `layout`'s shards the way ingest does under load:
/// each shard's clicks in packed entries.
pub async fn xadd_packed(
    conn: &mut clickstream::Conn,
    layout: &clickstream::Layout,
    clicks: &[domain::Click],
) {
    append(conn, layout, clicks).await;
}

async fn append(
    conn: &mut clickstream::Conn,
    layout: &clickstream::Layout,
    clicks: &[domain::Click],
) {
    let entries: Vec<clickstream::Entry> = clicks
        .iter()
        .map(|click| {
            clickstream::Entry::new(
                layout,
                &domain::StreamClick {
                    click: click.clone(),
                    received_at: chrono::Utc::now(),
                },
            )
        })
        .collect();
    clickstream::enqueue::append(conn, layout, &entries, Default::default())
        .await
        .expect("xadd");
}
