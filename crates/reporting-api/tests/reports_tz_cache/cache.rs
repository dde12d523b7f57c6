//! The report cache: never older than the last commit, on Redis, a cluster or none.

use crate::reports_support::{Api, KEY, add_clicks};

use chrono::{DateTime, Utc};
use serde_json::json;
use testkit::TestDb;

fn click(id: &str, offer: u64, at: &str) -> domain::StreamClick {
    domain::StreamClick {
        click: domain::Click {
            click_id: id.to_owned(),
            offer_id: domain::OfferId::new(offer).expect("positive"),
            source: "net".to_owned(),
            timestamp: at.parse::<DateTime<Utc>>().expect("timestamp"),
            signature: "sig".to_owned(),
        },
        received_at: Utc::now(),
    }
}

/// Commits clicks through the worker's own transaction.
async fn commit(db: &TestDb, clicks: &[domain::StreamClick]) {
    let refs: Vec<&domain::StreamClick> = clicks.iter().collect();
    storage::clicks::store_batch(&db.conn, &refs)
        .await
        .expect("store");
    storage::aggregates::fold_all(&db.conn).await.expect("fold");
}

#[tokio::test]
async fn the_cache_never_serves_an_answer_older_than_the_last_commit() {
    cache_follows_commits(testkit::DEFAULT_REDIS_URL).await;
}

/// The same cache on a Redis Cluster: its keys spread over the masters.
#[tokio::test]
async fn the_cache_works_the_same_on_a_redis_cluster() {
    let cluster = testkit::RedisCluster::start().await;
    cache_follows_commits(&cluster.url()).await;
}

async fn cache_follows_commits(redis_url: &str) {
    let db = TestDb::create().await;
    commit(&db, &[click("a", 1, "2024-01-15T10:00:00Z")]).await;
    let api = Api::start_with_redis(&db, redis_url, &[]).await;
    let aggregated = "/api/reports/aggregated?start_date=2024-01-15&end_date=2024-01-15";
    let summary = "/api/reports/summary?start_date=2024-01-15&end_date=2024-01-15";
    let zoned =
        "/api/reports/summary?start_date=2024-01-15&end_date=2024-01-15&timezone=America/New_York";

    let metrics_url = format!("{}/metrics", api.base);
    let hits =
        |text: &str| testkit::metrics::metric(text, "report_cache_total", &[("result", "hit")]);
    let hits_before = hits(&testkit::metrics::scrape(&metrics_url).await);
    for path in [aggregated, summary, zoned] {
        let (first, body) = api.cached_as(KEY, path).await;
        assert_eq!(first, "miss", "{path}");
        let (second, again) = api.cached_as(KEY, path).await;
        assert_eq!(second, "hit", "{path}");
        assert_eq!(body, again, "{path}");
    }
    // The hits are counted for the dashboard (other tests may add theirs).
    assert!(hits(&testkit::metrics::scrape(&metrics_url).await) >= hits_before + 3.0);

    // A click of the covered date commits: the very next answer includes it.
    commit(&db, &[click("b", 1, "2024-01-15T11:00:00Z")]).await;
    let (cache, body) = api.cached_as(KEY, aggregated).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["data"][0]["clicks_count"], 2);
    let (cache, body) = api.cached_as(KEY, summary).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["summary"]["total_clicks"], 2);
    assert_eq!(api.cached_as(KEY, aggregated).await.0, "hit");

    // A duplicate adds nothing and changes no version: still a hit.
    commit(&db, &[click("b", 1, "2024-01-15T11:00:00Z")]).await;
    assert_eq!(api.cached_as(KEY, aggregated).await.0, "hit");

    // Clicks of other dates leave UTC answers cached …
    commit(&db, &[click("c", 1, "2024-01-16T03:00:00Z")]).await;
    assert_eq!(api.cached_as(KEY, aggregated).await.0, "hit");
    // … but a zone's day spans two UTC dates: 16 Jan 03:00 UTC is 15 Jan in New York.
    let (cache, body) = api.cached_as(KEY, zoned).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["summary"]["total_clicks"], 3);

    // Other queries have other keys.
    let (cache, body) = api
        .cached_as(KEY, &format!("{aggregated}&offer_id=2"))
        .await;
    assert_eq!(cache, "miss");
    assert_eq!(body["data"], json!([]));
    api.stop();
    db.drop().await;
}

/// Each report query reads in a snapshot of its own, which must end before
/// its connection serves anything else: with a single connection, the
/// cache lookup's versions and a CSV report (read outside any snapshot)
/// see every commit, so each report after a commit is a miss with the new
/// figures.
#[tokio::test]
async fn no_report_snapshot_outlives_its_request() {
    let db = TestDb::create().await;
    let api = Api::start(&db, &["--db-connections=1"]).await;
    let summary = "/api/reports/summary?start_date=2024-05-01&end_date=2024-05-01";
    let aggregated =
        "/api/reports/aggregated?start_date=2024-05-01&end_date=2024-05-01&group_by=date";
    for clicks in 1..=5_u64 {
        add_clicks(&db, "2024-05-01 10:00:00", 1, "net", 1).await;
        let (cache, body) = api.cached_as(KEY, summary).await;
        assert_eq!(
            (cache.as_str(), &body["summary"]["total_clicks"]),
            ("miss", &json!(clicks))
        );
        let (cache, body) = api.cached_as(KEY, aggregated).await;
        assert_eq!(
            (cache.as_str(), &body["data"][0]["clicks_count"]),
            ("miss", &json!(clicks))
        );
        let csv = api
            .get_raw(&format!("{aggregated}&format=csv"))
            .await
            .text()
            .await
            .expect("csv");
        assert!(csv.ends_with(&format!("2024-05-01,{clicks}\r\n")), "{csv}");
    }
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn without_redis_reports_are_answered_uncached() {
    let db = TestDb::create().await;
    add_clicks(&db, "2024-01-15 10:00:00", 1, "net", 3).await;
    let api = Api::start_with_redis(&db, "redis://127.0.0.1:1", &[]).await;
    for path in [
        "/api/reports/aggregated?start_date=2024-01-15&end_date=2024-01-15",
        "/api/reports/summary?start_date=2024-01-15&end_date=2024-01-15",
    ] {
        for _ in 0..2 {
            let (cache, body) = api.cached_as(KEY, path).await;
            assert_eq!(cache, "miss");
            assert_eq!(body["status"], "success");
        }
    }
    api.stop();
    db.drop().await;
}
