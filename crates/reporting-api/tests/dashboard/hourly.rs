//! The summary's hourly series, which the dashboard's chart reads.

use crate::reports_support as support;

use serde_json::json;
use support::{Api, add_clicks, series};
use testkit::TestDb;

const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];

#[tokio::test]
async fn the_summary_lists_every_local_hour_on_request() {
    let db = TestDb::create().await;
    for (hour, offer_id, clicks) in [
        ("2024-03-10 05:00:00", 1, 3), // 00:00 EST in New York
        ("2024-03-10 23:00:00", 2, 2), // 19:00 EDT
        ("2024-03-11 02:00:00", 1, 4), // 22:00 EDT, still 10 March there
        ("2024-03-11 05:00:00", 1, 9), // 11 March everywhere
    ] {
        add_clicks(&db, hour, offer_id, "net", clicks).await;
    }
    let api = Api::start(&db, NO_CACHE).await;

    let plain = api
        .ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10")
        .await;
    assert!(plain.get("hourly").is_none(), "{plain}");

    let utc = api
        .ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10&interval=hour")
        .await;
    let hours = series(&utc, "hourly", "hour");
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0], ("2024-03-10T00:00:00".into(), 0));
    assert_eq!(hours[5], ("2024-03-10T05:00:00".into(), 3));
    assert_eq!(hours[23], ("2024-03-10T23:00:00".into(), 2));
    assert_eq!(hours.iter().map(|(_, c)| c).sum::<u64>(), 5);
    assert_eq!(utc["summary"]["total_clicks"], 5);

    // The day clocks went forward in New York has 23 hours, and 02:00 none.
    let new_york = api
        .ok(
            "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10\
             &timezone=America/New_York&interval=hour",
        )
        .await;
    let hours = series(&new_york, "hourly", "hour");
    assert_eq!(hours.len(), 23);
    assert!(!hours.iter().any(|(hour, _)| hour == "2024-03-10T02:00:00"));
    let nonzero: Vec<_> = hours.iter().filter(|(_, c)| *c > 0).cloned().collect();
    assert_eq!(
        nonzero,
        [
            ("2024-03-10T00:00:00".into(), 3),
            ("2024-03-10T19:00:00".into(), 2),
            ("2024-03-10T22:00:00".into(), 4),
        ]
    );
    assert_eq!(new_york["summary"]["total_clicks"], 9);

    // Filters apply to the hours as to everything else.
    let offer = api
        .ok(
            "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10\
             &timezone=America/New_York&interval=hour&offer_id=1",
        )
        .await;
    assert_eq!(
        series(&offer, "hourly", "hour")
            .iter()
            .map(|(_, c)| c)
            .sum::<u64>(),
        7
    );

    for (query, reason) in [
        ("interval=minute", "The selected interval is invalid."),
        (
            "interval=hour&end_date=2024-04-10",
            "The interval hour allows at most 31 days.",
        ),
    ] {
        let (status, body) = api
            .get(&format!(
                "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10&{query}"
            ))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["details"]["interval"], json!([reason]), "{query}");
    }
    api.ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-04-09&interval=hour")
        .await;
    api.stop();
    db.drop().await;
}
