//! The private servers keep their port and their data across stop, kill and restart.

use std::time::Instant;

use sea_orm::ConnectionTrait;
use testkit::{MariaDbInstance, RedisInstance, RedisOptions};

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn get(url: &str, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis_conn(url).await)
        .await
        .expect("get")
}

async fn set(url: &str, key: &str) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("v")
        .query_async(&mut redis_conn(url).await)
        .await
        .expect("set");
}

#[tokio::test]
async fn redis_comes_back_on_its_port_with_its_data() {
    let mut redis = RedisInstance::start().await;
    let url = redis.url();
    set(&url, "kept").await;
    redis.stop().await;
    assert!(!redis.is_running());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", redis.port())).is_err(),
        "nothing listens once stopped"
    );
    redis.restart().await;
    assert_eq!(redis.url(), url);
    assert_eq!(
        get(&url, "kept").await.as_deref(),
        Some("v"),
        "a graceful stop keeps the data"
    );
    set(&url, "lost").await;
    redis.kill();
    redis.restart().await;
    assert_eq!(
        get(&url, "lost").await,
        None,
        "without AOF a kill loses what was not saved"
    );
}

#[tokio::test]
async fn redis_with_aof_keeps_every_acknowledged_write_through_a_kill() {
    let mut redis = RedisInstance::start_with(RedisOptions { append_only: true }).await;
    let url = redis.url();
    set(&url, "durable").await;
    redis.kill();
    redis.restart().await;
    assert_eq!(get(&url, "durable").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn mariadb_starts_quickly_and_keeps_committed_rows_through_a_kill() {
    let started = Instant::now();
    let mut mariadb = MariaDbInstance::start().await;
    // About 0.4 s from the template (the first start on a machine builds it: a few seconds more).
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let db = mariadb.create_db().await;
    db.conn
        .execute_unprepared(
            "INSERT INTO clicks (click_id, offer_id, source, clicked_at, click_date, signature, received_at, batch_token) \
             VALUES ('k-1', 1, 's', '2025-06-10 12:00:00', '2025-06-10', 'sig', UTC_TIMESTAMP(6), 1)",
        )
        .await
        .expect("insert");
    mariadb.kill();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", mariadb.port())).is_err(),
        "nothing listens once killed"
    );
    mariadb.restart().await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM clicks").await,
        1,
        "the pool reconnects; the row survived"
    );
    mariadb.stop().await;
    assert!(!mariadb.is_running());
    mariadb.restart().await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM clicks").await, 1);
}
