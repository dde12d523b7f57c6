//! Reports in a time zone (local days from the hourly aggregates) and the
//! report cache, which must never serve an answer older than the last commit.

use crate::reports_support as support;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::{Api, KEY, add_clicks, series};
use testkit::TestDb;

const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];

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
        series(&utc, "daily", "date"),
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
        series(&ny, "daily", "date"),
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
    assert_eq!(
        series(&london, "daily", "date"),
        series(&utc, "daily", "date")
    );

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

/// The service's dates are 1000-01-01 to 9999-12-31, for clicks (UTC) and
/// reports (local) alike: clicks at either edge count in every zone whose
/// local day holds them, and dates outside are a 400 with a field error on
/// every report and format — never a 5xx, never a cut-off CSV.
#[tokio::test]
async fn the_edges_of_the_date_range_count_in_every_zone() {
    let db = TestDb::create().await;
    add_clicks(&db, "9999-12-31 23:00:00", 1, "net", 3).await; // e.g. 23:30Z
    add_clicks(&db, "1000-01-01 00:00:00", 1, "net", 5).await;
    let api = Api::start(&db, NO_CACHE).await;
    let total = |body: &Value| body["summary"]["total_clicks"].as_u64();
    // New York in year 1000 keeps local mean time (−4:56:02), which hourly
    // aggregates cannot split: that day is not asked there.
    for (zone, last_day, first_day) in [
        ("UTC", 3, Some(5)),
        ("Etc/GMT%2B12", 3, Some(0)), // UTC−12: 23:00Z is 11:00 local on the 31st
        ("America/New_York", 3, None), // 18:00 local on the 31st
        ("Etc/GMT-14", 0, Some(5)),   // UTC+14: 23:00Z is 1 January 10000 local
    ] {
        let last = api
            .ok(&format!(
                "/api/reports/summary?start_date=9999-12-31&end_date=9999-12-31&timezone={zone}"
            ))
            .await;
        assert_eq!(total(&last), Some(last_day), "{zone}: {last}");
        let aggregated = api
            .ok(&format!(
                "/api/reports/aggregated?start_date=9999-12-31&end_date=9999-12-31&timezone={zone}"
            ))
            .await;
        let sum: u64 = aggregated["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|row| row["clicks_count"].as_u64())
            .sum();
        assert_eq!(sum, last_day, "{zone}: {aggregated}");
        if let Some(first_day) = first_day {
            let first = api
                .ok(&format!(
                    "/api/reports/summary?start_date=1000-01-01&end_date=1000-01-01&timezone={zone}"
                ))
                .await;
            assert_eq!(total(&first), Some(first_day), "{zone}: {first}");
        }
    }
    for report in ["summary", "aggregated", "aggregated?format=csv&x=1"] {
        let (path, extra) = report.split_once('?').unwrap_or((report, "x=1"));
        for (start, zone) in [
            ("0000-01-01", "Etc/GMT-14"),
            ("0999-12-31", "UTC"),
            ("0000-01-01", "Etc/GMT-1"),
        ] {
            let url = format!(
                "/api/reports/{path}?start_date={start}&end_date={start}&timezone={zone}&{extra}"
            );
            let (status, body) = api.get(&url).await;
            assert_eq!(status, 400, "{url}: {body}");
            assert!(
                body["details"]["start_date"][0]
                    .as_str()
                    .is_some_and(|reason| reason.contains("1000-01-01 and 9999-12-31")),
                "{url}: {body}"
            );
        }
    }
    api.stop();
    db.drop().await;
}

/// `Accept` is negotiated: media types regardless of case, q-values weighed.
#[tokio::test]
async fn accept_headers_choose_csv_or_json_by_case_insensitive_type_and_q() {
    let db = TestDb::create().await;
    add_clicks(&db, "2024-05-01 10:00:00", 1, "net", 2).await;
    let api = Api::start(&db, NO_CACHE).await;
    let client = reqwest::Client::new();
    for (accept, csv) in [
        ("TEXT/CSV", true),
        ("text/csv;q=0.1, application/json", false),
        ("application/json;q=0.2, text/*", true),
        ("*/*", false),
    ] {
        let response = client
            .get(format!(
                "{}/api/reports/aggregated?start_date=2024-05-01&end_date=2024-05-01",
                api.base
            ))
            .bearer_auth(support::KEY)
            .header("accept", accept)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{accept}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let expected = if csv { "text/csv" } else { "application/json" };
        assert!(
            content_type.starts_with(expected),
            "{accept}: {content_type}"
        );
    }
    api.stop();
    db.drop().await;
}

/// A wrong method is 405 with `Allow` and a JSON body, on every route.
#[tokio::test]
async fn wrong_methods_get_405_with_allow() {
    let db = TestDb::create().await;
    let api = Api::start(&db, NO_CACHE).await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        ("POST", "/api/reports/summary", "GET"),
        ("DELETE", "/api/reports/aggregated", "GET"),
        ("GET", "/api/export/forward", "POST"),
        ("POST", "/api/export/status", "GET"),
        ("TRACE", "/api/reports/summary", "GET"),
        ("POST", "/api/health", "GET"),
        ("PUT", "/metrics", "GET"),
    ] {
        let response = client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", api.base),
            )
            .bearer_auth(support::KEY)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body: Value = response.json().await.expect("json body");
        assert_eq!(body["error"], "Method not allowed", "{method} {path}");
    }
    api.stop();
    db.drop().await;
}

/// A CSV report starts (200 and headers) only once its query has produced a
/// row: a query that fails at once is the usual JSON error, never a 200 with
/// a body that stops short.
#[tokio::test]
async fn a_csv_report_whose_query_fails_is_a_json_error_not_a_cut_200() {
    use sea_orm::ConnectionTrait;

    let db = TestDb::create().await;
    add_clicks(&db, "2024-05-01 10:00:00", 1, "net", 2).await;
    let api = Api::start(&db, NO_CACHE).await;
    let csv = "/api/reports/aggregated?start_date=2024-05-01&end_date=2024-05-01&format=csv";
    let response = api.get_raw(csv).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.expect("body").contains("net"));
    // The table the query reads is gone: the query fails before any row.
    db.conn
        .execute_unprepared("DROP TABLE click_daily_stats")
        .await
        .expect("drop");
    let response = api.get_raw(csv).await;
    assert_eq!(response.status().as_u16(), 500);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("a whole JSON body");
    assert_eq!(body["error"], "Internal server error");
    api.stop();
    db.drop().await;
}
