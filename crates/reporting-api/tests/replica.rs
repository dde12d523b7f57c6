//! Reports read from a real MariaDB replica (`DATABASE_READ_URL`), which a
//! test makes lag by pausing its SQL thread: reports follow the replica,
//! the cache never holds older rows under newer versions (even when one
//! pool is spread over servers at different lag), health shows the lag, and
//! a stopped replica makes reporting-api unready while the worker, on the
//! primary, stays healthy.

use crate::reports_support as support;

use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::Value;
use support::{Api, KEY};
use testkit::proxy::RoundRobinProxy;
use testkit::{MariaDbReplicaPair, TestDb};
use tokio_util::sync::CancellationToken;

const DATE: &str = "2025-06-10";
const SUMMARY: &str = "/api/reports/summary?start_date=2025-06-10&end_date=2025-06-10";

/// Commits `count` clicks of [`DATE`] on the primary through the worker's
/// own transaction (clicks, aggregates and the date's version together).
async fn commit_clicks(db: &TestDb, prefix: &str, count: u64) {
    let clicks: Vec<domain::StreamClick> = (0..count)
        .map(|n| domain::StreamClick {
            click: domain::Click {
                click_id: format!("{prefix}-{n}"),
                offer_id: domain::OfferId::new(1 + n % 3).expect("positive"),
                source: format!("net-{}", n % 2),
                timestamp: format!("{DATE}T12:00:00Z")
                    .parse::<DateTime<Utc>>()
                    .expect("timestamp"),
                signature: "sig".to_owned(),
            },
            received_at: Utc::now(),
        })
        .collect();
    let refs: Vec<&domain::StreamClick> = clicks.iter().collect();
    storage::clicks::store_batch(&db.conn, &refs)
        .await
        .expect("store");
    storage::aggregates::fold_all(&db.conn).await.expect("fold");
}

/// A reporting API writing to the primary and reading from `read_url`.
async fn api_reading(db: &TestDb, read_url: &str, extra: &[&str]) -> Api {
    let mut flags = vec![
        format!("--database-read-url={read_url}"),
        "--finance-service-url=http://127.0.0.1:1".to_owned(),
    ];
    flags.extend(extra.iter().map(|flag| (*flag).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Api::start(db, &flags).await
}

fn total_clicks(summary: &Value) -> u64 {
    summary["summary"]["total_clicks"]
        .as_u64()
        .unwrap_or_else(|| panic!("total_clicks in {summary}"))
}

#[tokio::test]
async fn reports_from_a_replica_follow_its_lag() {
    let pair = MariaDbReplicaPair::start().await;
    let db = pair.create_db().await;
    commit_clicks(&db, "first", 5).await;
    pair.wait_for_catch_up().await;
    let api = api_reading(&db, &pair.replica_url_of(&db), &[]).await;
    let (cache, body) = api.cached_as(KEY, SUMMARY).await;
    assert_eq!((cache.as_str(), total_clicks(&body)), ("miss", 5));

    pair.pause_replication().await;
    commit_clicks(&db, "second", 7).await;
    for _ in 0..2 {
        let (cache, body) = api.cached_as(KEY, SUMMARY).await;
        assert_eq!(
            (cache.as_str(), total_clicks(&body)),
            ("hit", 5),
            "the replica has not applied the new clicks: its figures, its versions"
        );
    }

    pair.resume_replication().await;
    pair.wait_for_catch_up().await;
    let (cache, body) = api.cached_as(KEY, SUMMARY).await;
    assert_eq!(
        (cache.as_str(), total_clicks(&body)),
        ("miss", 12),
        "caught up: the date's new version makes the old entry unreachable"
    );
    let (cache, body) = api.cached_as(KEY, SUMMARY).await;
    assert_eq!((cache.as_str(), total_clicks(&body)), ("hit", 12));
    api.stop();
}

/// One pool over two servers at different lag (the primary and a paused
/// replica, behind a proxy that alternates between them): a report's
/// versions and its body queries may each land on either server. Every
/// cache entry must hold a body computed from the very versions in its
/// key, so once the replica catches up (and every connection reads the
/// newest versions again) no answer — hit or miss — may show old figures.
#[tokio::test]
async fn a_pool_over_servers_at_different_lag_caches_no_old_rows_under_new_versions() {
    let pair = MariaDbReplicaPair::start().await;
    let db = pair.create_db().await;
    commit_clicks(&db, "first", 5).await;
    pair.wait_for_catch_up().await;
    pair.pause_replication().await;
    commit_clicks(&db, "second", 7).await;

    let proxy = RoundRobinProxy::start(vec![pair.primary.port(), pair.replica.port()]).await;
    let read_url = format!("mysql://root@127.0.0.1:{}/{}", proxy.port(), db.name);
    let api = api_reading(&db, &read_url, &["--db-connections=4"]).await;
    // Distinct queries (page sizes), each a cache entry of its own: each is
    // a new draw of which server answers which query.
    let queries: Vec<String> = (1..=24)
        .map(|limit| {
            format!(
                "/api/reports/aggregated?start_date={DATE}&end_date={DATE}&group_by=date&limit={limit}"
            )
        })
        .collect();
    // Four at a time, so the pool opens all its connections (the proxy
    // sends them to the two servers in turn) and every query may meet both.
    let mut figures_seen = std::collections::BTreeSet::new();
    for _ in 0..2 {
        for four in queries.chunks(4) {
            let bodies = futures_util::future::join_all(four.iter().map(|query| api.ok(query)));
            for body in bodies.await {
                figures_seen.insert(body["data"][0]["clicks_count"].as_u64().expect("count"));
            }
        }
    }
    assert_eq!(
        figures_seen,
        [5, 12].into(),
        "both servers answered: the pool is spread over both"
    );

    pair.resume_replication().await;
    pair.wait_for_catch_up().await;
    for query in &queries {
        let response = api.get_raw(query).await;
        let cache = response.headers()["x-cache"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["data"][0]["clicks_count"], 12,
            "{query} ({cache}): an entry cached under the new versions holds old rows"
        );
    }
    api.stop();
}

#[tokio::test]
async fn health_shows_the_replica_lag_or_that_it_is_unknown() {
    let pair = MariaDbReplicaPair::start().await;
    let db = pair.create_db().await;
    let api = api_reading(&db, &pair.replica_url_of(&db), &[]).await;
    let health = |api: &Api| {
        let url = format!("{}/api/health", api.base);
        async move {
            let response = reqwest::get(url).await.expect("health");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = health(&api).await;
    assert_eq!(status, 200, "{body}");
    let mysql = &body["checks"]["mysql"];
    assert_eq!(mysql["database"], "DATABASE_READ_URL", "{body}");
    assert_eq!(mysql["replica"]["replicating"], true, "{body}");
    assert_eq!(mysql["replica"]["lag_seconds"], 0, "{body}");

    pair.pause_replication().await;
    let (status, body) = health(&api).await;
    assert_eq!(
        status, 200,
        "a lagging replica still serves reports: {body}"
    );
    let replica = &body["checks"]["mysql"]["replica"];
    assert_eq!(replica["replicating"], false, "{body}");
    assert!(
        replica["lag_seconds"].is_null(),
        "no lag is known while not applying: {body}"
    );
    pair.resume_replication().await;
    api.stop();

    // A read user without the privilege to see replication: lag unknown,
    // reports still healthy.
    pair.primary
        .execute("CREATE USER 'reports'@'127.0.0.1' IDENTIFIED BY 'reports-password'")
        .await;
    pair.primary
        .execute(&format!(
            "GRANT SELECT ON `{}`.* TO 'reports'@'127.0.0.1'",
            db.name
        ))
        .await;
    pair.wait_for_catch_up().await;
    let limited = format!(
        "mysql://reports:reports-password@127.0.0.1:{}/{}",
        pair.replica.port(),
        db.name
    );
    let api = api_reading(&db, &limited, &[]).await;
    let (status, body) = health(&api).await;
    assert_eq!(status, 200, "{body}");
    let replica = &body["checks"]["mysql"]["replica"];
    assert!(replica["replicating"].is_null(), "{body}");
    assert!(replica["lag_seconds"].is_null(), "{body}");
    assert!(replica["error"].is_string(), "{body}");
    api.stop();
}

#[tokio::test]
async fn a_stopped_replica_makes_reports_unready_and_leaves_the_worker_healthy() {
    let mut pair = MariaDbReplicaPair::start().await;
    let db = pair.create_db().await;
    let stream = testkit::TestStream::create();
    let api = api_reading(&db, &pair.replica_url_of(&db), &[]).await;
    let shutdown = CancellationToken::new();
    let worker = worker::Application::build(
        worker::Settings::try_parse_from(stream.worker_args(&db.url, [])).expect("worker settings"),
        shutdown.clone(),
    )
    .await
    .expect("worker");
    let worker_base = format!("http://127.0.0.1:{}", worker.port());
    let worker_task = tokio::spawn(worker.run_until_stopped());
    let status_of = |url: String| async move {
        let response = reqwest::get(url).await.expect("probe");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("json"))
    };
    assert_eq!(status_of(format!("{}/readyz", api.base)).await.0, 200);

    pair.replica.stop().await;
    let (status, body) = status_of(format!("{}/readyz", api.base)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    let (status, body) = status_of(format!("{}/api/health", api.base)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["mysql"]["status"], "down", "{body}");
    assert_eq!(
        body["checks"]["mysql"]["database"], "DATABASE_READ_URL",
        "the failing check names the read database: {body}"
    );
    for probe in ["/readyz", "/api/health"] {
        let (status, body) = status_of(format!("{worker_base}{probe}")).await;
        assert_eq!(
            status, 200,
            "the worker writes to the primary: {probe} {body}"
        );
    }
    commit_clicks(&db, "while-replica-down", 3).await;
    assert_eq!(
        db.click_count().await,
        3,
        "the primary takes the worker's writes"
    );

    pair.replica.restart().await;
    pair.wait_for_catch_up().await;
    let (status, body) = status_of(format!("{}/readyz", api.base)).await;
    assert_eq!(status, 200, "back: {body}");
    let (_, body) = api.cached_as(KEY, SUMMARY).await;
    assert_eq!(total_clicks(&body), 3, "the restarted replica caught up");
    api.stop();
    shutdown.cancel();
    worker_task
        .await
        .expect("join")
        .expect("the worker stops cleanly");
    stream.drop().await;
}
