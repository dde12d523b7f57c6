//! Reports in a time zone (local days from the hourly aggregates) and the
//! report cache, which must never serve an answer older than the last commit.

#[path = "reports_support.rs"]
mod support;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::{Api, add_clicks};
use testkit::TestDb;

const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];

fn daily(body: &Value) -> Vec<(String, u64)> {
    body["daily"]
        .as_array()
        .expect("daily")
        .iter()
        .map(|d| {
            (
                d["date"].as_str().expect("date").to_owned(),
                d["clicks_count"].as_u64().expect("count"),
            )
        })
        .collect()
}

#[tokio::test]
async fn new_york_days_straddle_two_utc_days() {
    let db = TestDb::create().await;
    for (hour, clicks) in [
        ("2024-01-15 03:00:00", 4), // 14 Jan, 22:00 EST
        ("2024-01-15 10:00:00", 6), // 15 Jan, 05:00
        ("2024-01-16 04:00:00", 1), // 15 Jan, 23:00
        ("2024-01-16 05:00:00", 2), // 16 Jan, 00:00
    ] {
        add_clicks(&db, hour, 1, "net", clicks).await;
    }
    // Around the switch to daylight saving time: 10 March has 23 hours.
    for (hour, clicks) in [
        ("2024-03-10 04:00:00", 100),  // 9 March, 23:00 EST
        ("2024-03-10 05:00:00", 10),   // 10 March, 00:00 EST
        ("2024-03-11 03:00:00", 20),   // 10 March, 23:00 EDT
        ("2024-03-11 04:00:00", 1000), // 11 March, 00:00 EDT
    ] {
        add_clicks(&db, hour, 2, "net", clicks).await;
    }
    let api = Api::start(&db, NO_CACHE).await;

    let utc = api
        .ok("/api/reports/summary?start_date=2024-01-14&end_date=2024-01-16")
        .await;
    assert_eq!(
        daily(&utc),
        [
            ("2024-01-14".into(), 0),
            ("2024-01-15".into(), 10),
            ("2024-01-16".into(), 3)
        ]
    );
    assert!(utc.get("timezone").is_none());

    let ny = api
        .ok("/api/reports/summary?start_date=2024-01-14&end_date=2024-01-16&timezone=America/New_York")
        .await;
    assert_eq!(
        daily(&ny),
        [
            ("2024-01-14".into(), 4),
            ("2024-01-15".into(), 7),
            ("2024-01-16".into(), 2)
        ]
    );
    assert_eq!(ny["summary"]["total_clicks"], 13);
    assert_eq!(ny["timezone"], "America/New_York");

    let body = api
        .ok("/api/reports/aggregated?start_date=2024-01-15&end_date=2024-01-15&timezone=America/New_York")
        .await;
    assert_eq!(
        body["data"],
        json!([{"date":"2024-01-15","offer_id":1,"source":"net","clicks_count":7}])
    );
    assert_eq!(body["filters"]["start_date"], "2024-01-15");

    let dst = api
        .ok("/api/reports/aggregated?start_date=2024-03-09&end_date=2024-03-11&timezone=America/New_York&group_by=date&sort_by=date&sort_direction=asc")
        .await;
    assert_eq!(
        dst["data"],
        json!([
            {"date":"2024-03-09","clicks_count":100},
            {"date":"2024-03-10","clicks_count":30},
            {"date":"2024-03-11","clicks_count":1000},
        ])
    );
    assert_eq!(dst["pagination"]["total"], 3);

    // CSV in a zone.
    let csv = api
        .get_raw("/api/reports/aggregated?start_date=2024-03-10&end_date=2024-03-10&timezone=America/New_York&format=csv")
        .await
        .text()
        .await
        .expect("csv");
    assert_eq!(
        csv,
        "date,offer_id,source,clicks_count\r\n2024-03-10,2,net,30\r\n"
    );

    // A zone at UTC+0 over the range reads the daily table: same as UTC.
    let london = api
        .ok("/api/reports/summary?start_date=2024-01-14&end_date=2024-01-16&timezone=Europe/London")
        .await;
    assert_eq!(daily(&london), daily(&utc));

    // Offsets that are not whole hours cannot be cut from hourly aggregates.
    for zone in ["Asia/Kolkata", "Asia/Kathmandu"] {
        let (status, body) = api
            .get(&format!(
                "/api/reports/aggregated?start_date=2024-01-14&end_date=2024-01-16&timezone={zone}"
            ))
            .await;
        assert_eq!(status, 400, "{zone}");
        let reason = body["details"]["timezone"][0].as_str().expect("reason");
        assert!(
            reason.contains(zone) && reason.contains("whole number of hours"),
            "{reason}"
        );
    }
    api.stop();
    db.drop().await;
}

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
    worker::store::store_batch(&db.conn, &refs)
        .await
        .expect("store");
}

async fn get_cached(api: &Api, path: &str) -> (String, Value) {
    let response = api.get_raw(path).await;
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let cache = response.headers()["x-cache"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (cache, response.json().await.expect("json"))
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

    for path in [aggregated, summary, zoned] {
        let (first, body) = get_cached(&api, path).await;
        assert_eq!(first, "miss", "{path}");
        let (second, again) = get_cached(&api, path).await;
        assert_eq!(second, "hit", "{path}");
        assert_eq!(body, again, "{path}");
    }

    // A click of the covered date commits: the very next answer includes it.
    commit(&db, &[click("b", 1, "2024-01-15T11:00:00Z")]).await;
    let (cache, body) = get_cached(&api, aggregated).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["data"][0]["clicks_count"], 2);
    let (cache, body) = get_cached(&api, summary).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["summary"]["total_clicks"], 2);
    assert_eq!(get_cached(&api, aggregated).await.0, "hit");

    // A duplicate adds nothing and changes no version: still a hit.
    commit(&db, &[click("b", 1, "2024-01-15T11:00:00Z")]).await;
    assert_eq!(get_cached(&api, aggregated).await.0, "hit");

    // Clicks of other dates leave UTC answers cached …
    commit(&db, &[click("c", 1, "2024-01-16T03:00:00Z")]).await;
    assert_eq!(get_cached(&api, aggregated).await.0, "hit");
    // … but a zone's day spans two UTC dates: 16 Jan 03:00 UTC is 15 Jan in New York.
    let (cache, body) = get_cached(&api, zoned).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["summary"]["total_clicks"], 3);

    // Other queries have other keys.
    let (cache, body) = get_cached(&api, &format!("{aggregated}&offer_id=2")).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["data"], json!([]));
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
            let (cache, body) = get_cached(&api, path).await;
            assert_eq!(cache, "miss");
            assert_eq!(body["status"], "success");
        }
    }
    api.stop();
    db.drop().await;
}
