//! Local days in a time zone, daylight saving included, and the edges of the date range.

use crate::reports_support::{Api, add_clicks, series};

use serde_json::{Value, json};
use testkit::TestDb;

use super::NO_CACHE;

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
