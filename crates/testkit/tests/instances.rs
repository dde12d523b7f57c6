//! The private servers keep their port and their data across stop, kill and
//! restart; a private Redis speaks TLS or asks for credentials when told to;
//! a private Redis Cluster fails over and takes a restarted master back.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use testkit::instances::RedisCluster;
use testkit::{MariaDbInstance, MariaDbReplicaPair, RedisInstance, RedisOptions};

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
    let mut redis = RedisInstance::start_with(RedisOptions {
        append_only: true,
        ..RedisOptions::default()
    })
    .await;
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
        db.click_count().await,
        1,
        "the pool reconnects; the row survived"
    );
    mariadb.stop().await;
    assert!(!mariadb.is_running());
    mariadb.restart().await;
    assert_eq!(db.click_count().await, 1);
}

#[tokio::test]
async fn a_mariadb_replica_follows_its_primary_and_lags_while_paused() {
    let started = Instant::now();
    let pair = MariaDbReplicaPair::start().await;
    let db = pair.create_db().await;
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let replica = storage::connect(&pair.replica_url_of(&db), 1)
        .await
        .expect("connect to the replica");
    let versions = |conn: sea_orm::DatabaseConnection| async move {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::MySql,
                "SELECT COUNT(*) FROM report_date_versions",
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("count")
    };
    let bump = "INSERT INTO report_date_versions (click_date, version) VALUES ('2025-06-10', 1)";
    assert_eq!(versions(replica.clone()).await, 0, "migrated, empty");

    pair.pause_replication().await;
    db.conn.execute_unprepared(bump).await.expect("insert");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(versions(db.conn.clone()).await, 1);
    assert_eq!(
        versions(replica.clone()).await,
        0,
        "paused: the replica lags"
    );

    pair.resume_replication().await;
    pair.wait_for_catch_up().await;
    assert_eq!(versions(replica.clone()).await, 1, "caught up");
}

/// PING through `client`, giving up after two seconds (a server that does not
/// understand the client may say nothing at all).
async fn ping(client: &redis::Client) -> Result<String, redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("PING").query_async(&mut conn).await
}

#[tokio::test]
async fn redis_with_tls_answers_over_tls_only() {
    let mut redis = RedisInstance::start_with(RedisOptions {
        tls: true,
        ..RedisOptions::default()
    })
    .await;
    assert_eq!(redis.url(), format!("rediss://127.0.0.1:{}", redis.port()));

    let mutual = redis.client();
    assert_eq!(ping(&mutual).await.expect("mutual TLS"), "PONG");
    let read = |path: &std::path::Path| std::fs::read(path).expect("a PEM file of the instance");
    let server_verified = redis::Client::build_with_tls(
        redis.url(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(read(redis.ca_file())),
        },
    )
    .expect("TLS client");
    assert_eq!(
        ping(&server_verified)
            .await
            .expect("TLS without a client certificate"),
        "PONG"
    );
    let from_files = redis::Client::build_with_tls(
        redis.url(),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(redis.client_cert_file()),
                client_key: read(redis.client_key_file()),
            }),
            root_cert: Some(read(redis.ca_file())),
        },
    )
    .expect("TLS client");
    assert_eq!(ping(&from_files).await.expect("mutual TLS"), "PONG");

    let plain = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port())).expect("url");
    assert!(ping(&plain).await.is_err(), "plain TCP is refused");
    let untrusting = redis::Client::open(redis.url()).expect("url");
    assert!(
        ping(&untrusting).await.is_err(),
        "a client that does not trust the test CA refuses the server"
    );

    redis.restart().await;
    assert_eq!(
        ping(&mutual)
            .await
            .expect("the same certificates after a restart"),
        "PONG"
    );
}

#[tokio::test]
async fn redis_with_a_password_refuses_clients_without_it() {
    let redis = RedisInstance::start_with(RedisOptions {
        password: Some("p@ss:w/rd %1".to_owned()),
        ..RedisOptions::default()
    })
    .await;
    assert_eq!(
        redis.url(),
        format!("redis://:p%40ss%3Aw%2Frd%20%251@127.0.0.1:{}", redis.port())
    );
    let anonymous = redis::Client::open(redis.url_without_credentials()).expect("url");
    let refused = ping(&anonymous).await.expect_err("no password, no PING");
    assert_eq!(refused.code(), Some("NOAUTH"), "{refused}");
    assert_eq!(
        ping(&redis.client()).await.expect("with the password"),
        "PONG"
    );
}

#[tokio::test]
async fn redis_with_an_acl_user_refuses_everyone_else() {
    let mut redis = RedisInstance::start_with(RedisOptions {
        acl_user: Some(("clicks".to_owned(), "a s3cret/pass".to_owned())),
        ..RedisOptions::default()
    })
    .await;
    let anonymous = redis::Client::open(redis.url_without_credentials()).expect("url");
    let refused = ping(&anonymous).await.expect_err("the default user is off");
    assert_eq!(refused.code(), Some("NOAUTH"), "{refused}");
    let wrong = redis::Client::open(format!("redis://clicks:wrong@127.0.0.1:{}", redis.port()))
        .expect("url");
    assert!(ping(&wrong).await.is_err(), "a wrong password is refused");

    redis.restart().await;
    let mut conn = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("the ACL user logs in");
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut conn)
        .await
        .expect("ACL WHOAMI");
    assert_eq!(whoami, "clicks");
}

#[tokio::test]
async fn redis_with_tls_and_an_acl_user_logs_in_over_tls() {
    let mut redis = RedisInstance::start_with(RedisOptions {
        tls: true,
        acl_user: Some(("clicks".to_owned(), "pass".to_owned())),
        ..RedisOptions::default()
    })
    .await;
    assert_eq!(
        redis.url(),
        format!("rediss://clicks:pass@127.0.0.1:{}", redis.port())
    );
    redis.restart().await;
    assert_eq!(ping(&redis.client()).await.expect("TLS and ACL"), "PONG");
}

#[tokio::test]
async fn redis_cluster_fails_over_to_the_replica_and_takes_the_old_master_back() {
    let started = Instant::now();
    let mut cluster = RedisCluster::start().await;
    eprintln!("Redis Cluster up in {:?}", started.elapsed());
    assert_eq!(cluster.node_count(), 6);
    assert_eq!(
        cluster.url(),
        format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
            cluster.port(0),
            cluster.port(1),
            cluster.port(2)
        )
    );
    assert_eq!(cluster.masters().await, [0, 1, 2]);
    for master in 0..3 {
        assert_eq!(cluster.replicas_of(master).await, [master + 3]);
    }

    let key = "clicks-test-failover";
    let mut conn = cluster
        .client()
        .get_async_connection()
        .await
        .expect("cluster connection");
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("kept")
        .query_async(&mut conn)
        .await
        .expect("SET");
    // Sent to every master, the smallest answer wins: 1 means the key's
    // master has the SET on its replica too.
    let replicated: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(1000)
        .query_async(&mut conn)
        .await
        .expect("WAIT");
    assert_eq!(replicated, 1);
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut redis_conn(&cluster.node_url(0)).await)
        .await
        .expect("CLUSTER KEYSLOT");
    let master = cluster.master_of_slot(slot).await;
    let replica = master + 3;

    cluster.kill(master);
    let killed = Instant::now();
    cluster
        .wait_for_failover_of(master, Duration::from_secs(15))
        .await;
    eprintln!(
        "node {replica} took over from node {master} in {:?}",
        killed.elapsed()
    );
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_eq!(cluster.master_of_slot(slot).await, replica);
    let value: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("GET after the failover");
    assert_eq!(value.as_deref(), Some("kept"));

    cluster.restart(master).await;
    cluster.wait_until_ok(Duration::from_secs(15)).await;
    eprintln!(
        "node {master} back as a replica {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(cluster.replicas_of(replica).await, [master]);
    assert!(!cluster.masters().await.contains(&master));
    let value: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("GET after the restart");
    assert_eq!(value.as_deref(), Some("kept"));

    // A replica stopped gracefully comes back to its master.
    let other_master = (master + 1) % 3;
    let other_replica = other_master + 3;
    cluster.stop(other_replica).await;
    assert!(!cluster.is_running(other_replica));
    cluster.wait_until_ok(Duration::from_secs(15)).await;
    cluster.restart(other_replica).await;
    cluster.wait_until_ok(Duration::from_secs(15)).await;
    assert_eq!(cluster.replicas_of(other_master).await, [other_replica]);
}
