//! Request validation: a reason for every invalid parameter, and the range limit.

use crate::reports_support::Api;

use std::collections::BTreeSet;

use serde_json::json;
use testkit::TestDb;

use super::NO_CACHE;

#[tokio::test]
async fn every_invalid_parameter_gets_a_reason() {
    let db = TestDb::create().await;
    let api = Api::start(
        &db,
        &["--report-cache-ttl-secs=0", "--report-max-range-days=31"],
    )
    .await;
    let ok = "start_date=2024-01-01&end_date=2024-01-31";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "end_date=2024-01-31".into(),
            "start_date",
            "The start_date field is required.",
        ),
        (
            "start_date=2024-01-01".into(),
            "end_date",
            "The end_date field is required.",
        ),
        (
            "start_date=2024-13-01&end_date=2024-01-31".into(),
            "start_date",
            "The start_date field must match the format Y-m-d.",
        ),
        (
            "start_date=2024-01-01&end_date=31.01.2024".into(),
            "end_date",
            "The end_date field must match the format Y-m-d.",
        ),
        (
            "start_date=2024-01-31&end_date=2024-01-01".into(),
            "end_date",
            "The end_date must be a date after or equal to start_date.",
        ),
        (
            "start_date=2024-01-01&end_date=2024-02-01".into(),
            "end_date",
            "The date range must not be longer than 31 days.",
        ),
        (
            format!("{ok}&sort_by=clicks"),
            "sort_by",
            "The selected sort_by is invalid.",
        ),
        (
            format!("{ok}&sort_direction=up"),
            "sort_direction",
            "The selected sort_direction is invalid.",
        ),
        (
            format!("{ok}&limit=0"),
            "limit",
            "The limit field must be between 1 and 1000.",
        ),
        (
            format!("{ok}&limit=1001"),
            "limit",
            "The limit field must be between 1 and 1000.",
        ),
        (
            format!("{ok}&limit=ten"),
            "limit",
            "The limit field must be an integer.",
        ),
        (
            format!("{ok}&page=0"),
            "page",
            "The page field must be at least 1.",
        ),
        (
            format!("{ok}&page=-3"),
            "page",
            "The page field must be at least 1.",
        ),
        (
            format!("{ok}&offer_id=abc"),
            "offer_id",
            "The offer_id field must be an integer.",
        ),
        (
            format!("{ok}&offer_id=0"),
            "offer_id",
            "The offer_id field must be at least 1.",
        ),
        (
            format!("{ok}&source={}", "s".repeat(256)),
            "source",
            "The source field must not be greater than 255 characters.",
        ),
        (
            format!("{ok}&group_by=date,country"),
            "group_by",
            "The selected group_by is invalid.",
        ),
        (
            format!("{ok}&group_by=offer_id&sort_by=source"),
            "sort_by",
            "The sort_by field must be clicks_count or one of the group_by fields.",
        ),
        (
            format!("{ok}&format=xml"),
            "format",
            "The selected format is invalid.",
        ),
        (
            format!("{ok}&timezone=Mars/Olympus"),
            "timezone",
            "The timezone field must be a valid time zone.",
        ),
    ];
    for (query, field, reason) in &cases {
        let (status, body) = api.get(&format!("/api/reports/aggregated?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], "Validation failed", "{query}");
        assert_eq!(body["details"][field], json!([reason]), "{query}: {body}");
    }
    // Several at once: one entry per field.
    let (status, body) = api
        .get("/api/reports/aggregated?sort_by=x&limit=0&page=0&offer_id=x")
        .await;
    assert_eq!(status, 400);
    let fields: BTreeSet<&str> = body["details"]
        .as_object()
        .expect("details")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "end_date",
            "limit",
            "offer_id",
            "page",
            "sort_by",
            "start_date"
        ])
    );
    // The summary validates the same way.
    let (status, body) = api.get("/api/reports/summary?start_date=2024-01-01").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error":"Validation failed","details":{"end_date":["The end_date field is required."]}})
    );
    // The longest allowed range is fine; a source of 255 characters too.
    api.ok(&format!(
        "/api/reports/aggregated?{ok}&source={}",
        "s".repeat(255)
    ))
    .await;
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn the_default_range_limit_is_366_days() {
    let db = TestDb::create().await;
    let api = Api::start(&db, NO_CACHE).await;
    api.ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-12-31")
        .await;
    let (status, body) = api
        .get("/api/reports/summary?start_date=2024-01-01&end_date=2025-01-01")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["details"]["end_date"],
        json!(["The date range must not be longer than 366 days."])
    );
    api.stop();
    db.drop().await;
}
