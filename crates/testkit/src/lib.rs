//! Fresh, isolated state for tests: a new MariaDB/MySQL database with every
//! migration applied, and a new stream name, per test.
//!
//! The servers come from `TEST_DATABASE_URL` (default
//! `mysql://root@127.0.0.1:3306`, no database part) and `TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Tests that stop, kill or restart a
//! server use a private one from [`instances`] instead.

pub mod instances;

pub use instances::{MariaDbInstance, RedisInstance, RedisOptions};
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

/// A stream key of its own on the test Redis. Call [`TestStream::drop`] at the end.
pub struct TestStream {
    pub redis_url: String,
    pub key: String,
    pub pool: deadpool_redis::Pool,
}

impl TestStream {
    /// On the shared test Redis (`TEST_REDIS_URL`).
    pub fn create() -> Self {
        Self::create_on(&env_or("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    }

    /// On the Redis at `redis_url`, e.g. a [`RedisInstance`].
    pub fn create_on(redis_url: &str) -> Self {
        let redis_url = redis_url.to_owned();
        let pool = deadpool_redis::Config::from_url(redis_url.clone())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("redis pool");
        Self {
            redis_url,
            key: format!("clicks-test-{}", unique_suffix()),
            pool,
        }
    }

    pub async fn conn(&self) -> deadpool_redis::Connection {
        self.pool.get().await.expect("redis connection")
    }

    /// Deletes every key of this test (the stream and its companions share the prefix).
    pub async fn drop(self) {
        let mut conn = self.conn().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.key))
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("del");
        }
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

/// Appends clicks to a stream the way ingest does.
pub async fn xadd_clicks(
    conn: &mut deadpool_redis::Connection,
    stream: &str,
    clicks: &[domain::Click],
) {
    let mut pipe = redis::pipe();
    for click in clicks {
        let entry = domain::StreamClick {
            click: click.clone(),
            received_at: chrono::Utc::now(),
        };
        let command = pipe.cmd("XADD").arg(stream).arg("*");
        for (field, value) in entry.encode() {
            command.arg(field).arg(value);
        }
    }
    let _: Vec<String> = pipe.query_async(conn).await.expect("xadd");
}
