//! `GET /api/reports/aggregated` and `/summary` against real MariaDB: the
//! contract's examples, validation, filters, sorting, pagination, group_by
//! and CSV. (Time zones and the cache: `reports_tz_cache.rs`.)

use crate::reports_support as support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Api, add_daily};
use testkit::TestDb;

/// No cache, so every answer is computed.
const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];

#[tokio::test]
async fn the_contract_examples() {
    let db = TestDb::create().await;
    add_daily(
        &db,
        &[
            ("2024-01-01", 12345, "network_1", 2),
            ("2024-01-15", 777, "network_2", 1),
            ("2024-02-01", 12345, "network_1", 50),
        ],
    )
    .await;
    let api = Api::start(&db, NO_CACHE).await;

    let body = api
        .ok("/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-01")
        .await;
    assert_eq!(
        body,
        json!({"status":"success",
            "data":[{"date":"2024-01-01","offer_id":12345,"source":"network_1","clicks_count":2}],
            "pagination":{"current_page":1,"per_page":100,"total":1,"last_page":1,"from":1,"to":1},
            "filters":{"start_date":"2024-01-01","end_date":"2024-01-01","offer_id":null,"source":null},
            "sorting":{"sort_by":"clicks_count","sort_direction":"desc"}})
    );

    // No rows: from and to are null, last_page 1.
    let body = api
        .ok("/api/reports/aggregated?start_date=2023-01-01&end_date=2023-01-31")
        .await;
    assert_eq!(body["data"], json!([]));
    assert_eq!(
        body["pagination"],
        json!({"current_page":1,"per_page":100,"total":0,"last_page":1,"from":null,"to":null})
    );

    // Summary: exactly the contract's body, plus daily and the tops.
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-01-31")
        .await;
    assert_eq!(
        body["summary"],
        json!({"total_clicks":3,"unique_offers":2,"unique_sources":2,
               "date_range":{"start_date":"2024-01-01","end_date":"2024-01-31"}})
    );
    assert_eq!(body["status"], "success");
    let daily = body["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 31);
    assert_eq!(daily[0], json!({"date":"2024-01-01","clicks_count":2}));
    assert_eq!(daily[1], json!({"date":"2024-01-02","clicks_count":0}));
    assert_eq!(daily[14], json!({"date":"2024-01-15","clicks_count":1}));
    assert_eq!(
        body["top_offers"],
        json!([{"offer_id":12345,"clicks_count":2},{"offer_id":777,"clicks_count":1}])
    );
    assert_eq!(
        body["top_sources"],
        json!([{"source":"network_1","clicks_count":2},{"source":"network_2","clicks_count":1}])
    );

    // Summary filters.
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-02-29&offer_id=12345")
        .await;
    assert_eq!(body["summary"]["total_clicks"], 52);
    assert_eq!(body["summary"]["unique_offers"], 1);
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-02-29&source=network_2")
        .await;
    assert_eq!(body["summary"]["total_clicks"], 1);
    assert_eq!(body["filters"]["source"], "network_2");

    // Empty summary.
    let body = api
        .ok("/api/reports/summary?start_date=2020-01-01&end_date=2020-01-01")
        .await;
    assert_eq!(
        body["summary"],
        json!({"total_clicks":0,"unique_offers":0,"unique_sources":0,
               "date_range":{"start_date":"2020-01-01","end_date":"2020-01-01"}})
    );
    assert_eq!(body["top_offers"], json!([]));
    api.stop();
    db.drop().await;
}

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

/// Rows with many ties in `clicks_count`, offer_id and source.
async fn tied_rows(db: &TestDb) -> Vec<(String, u64, String, u64)> {
    let mut rows = Vec::new();
    for day in 1..=4u64 {
        for offer in [5u64, 40, 300] {
            for source in ["a", "B", "c_net"] {
                let clicks = (day + offer + source.len() as u64) % 3 + 1;
                rows.push((
                    format!("2024-03-{day:02}"),
                    offer,
                    source.to_owned(),
                    clicks,
                ));
            }
        }
    }
    let borrowed: Vec<(&str, u64, &str, u64)> = rows
        .iter()
        .map(|(d, o, s, c)| (d.as_str(), *o, s.as_str(), *c))
        .collect();
    add_daily(db, &borrowed).await;
    rows
}

fn row_key(row: &Value) -> (String, u64, String, u64) {
    (
        row["date"].as_str().expect("date").to_owned(),
        row["offer_id"].as_u64().expect("offer_id"),
        row["source"].as_str().expect("source").to_owned(),
        row["clicks_count"].as_u64().expect("clicks_count"),
    )
}

#[tokio::test]
async fn sorting_and_pagination_never_overlap_or_skip() {
    let db = TestDb::create().await;
    let rows = tied_rows(&db).await;
    let api = Api::start(&db, NO_CACHE).await;
    let range = "start_date=2024-03-01&end_date=2024-03-04";
    let all: BTreeSet<_> = rows.iter().cloned().collect();

    for sort_by in ["clicks_count", "offer_id", "source", "date"] {
        let mut ascending = Vec::new();
        for direction in ["asc", "desc"] {
            let mut seen = Vec::new();
            for page in 1.. {
                let body = api
                    .ok(&format!(
                        "/api/reports/aggregated?{range}&sort_by={sort_by}&sort_direction={direction}&limit=7&page={page}"
                    ))
                    .await;
                let data = body["data"].as_array().expect("data").clone();
                assert_eq!(body["pagination"]["total"], 36);
                assert_eq!(body["pagination"]["last_page"], 6);
                assert_eq!(
                    body["sorting"],
                    json!({"sort_by": sort_by, "sort_direction": direction})
                );
                if data.is_empty() {
                    // A page past the end is empty, not an error.
                    assert_eq!(page, 7);
                    assert_eq!(body["pagination"]["from"], Value::Null);
                    break;
                }
                assert_eq!(body["pagination"]["from"], (page - 1) * 7 + 1);
                assert_eq!(body["pagination"]["to"], (page - 1) * 7 + data.len() as u64);
                seen.extend(data.iter().map(row_key));
            }
            // Every row exactly once …
            assert_eq!(seen.len(), 36, "{sort_by} {direction}");
            assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);
            // … in the requested order.
            let key = |r: &(String, u64, String, u64)| match sort_by {
                "clicks_count" => json!(r.3),
                "offer_id" => json!(r.1),
                "source" => json!(r.2),
                _ => json!(r.0),
            };
            let ordered = seen.windows(2).all(|w| {
                let (a, b) = (key(&w[0]), key(&w[1]));
                let cmp = match (a.as_u64(), b.as_u64()) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    _ => a.as_str().cmp(&b.as_str()),
                };
                if direction == "asc" {
                    cmp.is_le()
                } else {
                    cmp.is_ge()
                }
            });
            assert!(ordered, "{sort_by} {direction}: {seen:?}");
            // One page of everything is the same order.
            let body = api
                .ok(&format!(
                    "/api/reports/aggregated?{range}&sort_by={sort_by}&sort_direction={direction}&limit=1000"
                ))
                .await;
            let whole: Vec<_> = body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(row_key)
                .collect();
            assert_eq!(whole, seen);
            // Ties follow the direction: desc is asc reversed.
            if direction == "asc" {
                ascending = seen;
            } else {
                ascending.reverse();
                assert_eq!(seen, ascending, "{sort_by}");
            }
        }
    }
    // Ties are broken by date, offer_id, source (in the sort's direction).
    let body = api
        .ok(&format!(
            "/api/reports/aggregated?{range}&sort_by=source&sort_direction=asc&limit=3"
        ))
        .await;
    assert_eq!(
        body["data"],
        json!([
            {"date":"2024-03-01","offer_id":5,"source":"B","clicks_count":2},
            {"date":"2024-03-01","offer_id":40,"source":"B","clicks_count":1},
            {"date":"2024-03-01","offer_id":300,"source":"B","clicks_count":3},
        ])
    );
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn filters_narrow_the_rows() {
    let db = TestDb::create().await;
    let rows = tied_rows(&db).await;
    let api = Api::start(&db, NO_CACHE).await;
    let body = api
        .ok("/api/reports/aggregated?start_date=2024-03-02&end_date=2024-03-03&offer_id=40&source=c_net")
        .await;
    let expected: BTreeSet<_> = rows
        .iter()
        .filter(|r| r.1 == 40 && r.2 == "c_net" && (r.0 == "2024-03-02" || r.0 == "2024-03-03"))
        .cloned()
        .collect();
    let got: BTreeSet<_> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(row_key)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        body["filters"],
        json!({"start_date":"2024-03-02","end_date":"2024-03-03","offer_id":40,"source":"c_net"})
    );
    // Sources are byte-exact.
    let body = api
        .ok("/api/reports/aggregated?start_date=2024-03-01&end_date=2024-03-04&source=b")
        .await;
    assert_eq!(body["pagination"]["total"], 0);
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn group_by_aggregates_over_the_omitted_dimensions() {
    let db = TestDb::create().await;
    let rows = tied_rows(&db).await;
    let api = Api::start(&db, NO_CACHE).await;
    let range = "start_date=2024-03-01&end_date=2024-03-04";

    let body = api
        .ok(&format!(
            "/api/reports/aggregated?{range}&group_by=offer_id&sort_by=offer_id&sort_direction=asc"
        ))
        .await;
    let per_offer = |offer: u64| {
        rows.iter()
            .filter(|r| r.1 == offer)
            .map(|r| r.3)
            .sum::<u64>()
    };
    assert_eq!(
        body["data"],
        json!([
            {"offer_id":5,"clicks_count":per_offer(5)},
            {"offer_id":40,"clicks_count":per_offer(40)},
            {"offer_id":300,"clicks_count":per_offer(300)},
        ])
    );
    assert_eq!(body["pagination"]["total"], 3);
    assert_eq!(body["group_by"], json!(["offer_id"]));

    let body = api
        .ok(&format!(
            "/api/reports/aggregated?{range}&group_by=source,date&sort_by=date&limit=2&page=2"
        ))
        .await;
    assert_eq!(body["pagination"]["total"], 12);
    let per = |date: &str, source: &str| {
        rows.iter()
            .filter(|r| r.0 == date && r.2 == source)
            .map(|r| r.3)
            .sum::<u64>()
    };
    // date desc, ties by source desc too ("B" < "a" < "c_net" byte-wise).
    assert_eq!(
        body["data"],
        json!([
            {"date":"2024-03-04","source":"B","clicks_count":per("2024-03-04","B")},
            {"date":"2024-03-03","source":"c_net","clicks_count":per("2024-03-03","c_net")},
        ])
    );

    let body = api
        .ok(&format!(
            "/api/reports/aggregated?{range}&group_by=date&limit=1"
        ))
        .await;
    let total: u64 = rows.iter().map(|r| r.3).sum();
    let best = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
        .iter()
        .map(|d| rows.iter().filter(|r| r.0 == *d).map(|r| r.3).sum::<u64>())
        .max()
        .expect("max");
    assert_eq!(body["data"][0]["clicks_count"], best);
    assert!(body["data"][0].get("offer_id").is_none());
    assert!(total > best);
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn csv_has_the_same_rows() {
    let db = TestDb::create().await;
    add_daily(
        &db,
        &[
            ("2024-01-01", 12345, "network_1", 2),
            ("2024-01-02", 7, "with,comma \"q\"", 5),
        ],
    )
    .await;
    let api = Api::start(&db, NO_CACHE).await;
    let range = "start_date=2024-01-01&end_date=2024-01-31";
    let response = api
        .get_raw(&format!("/api/reports/aggregated?{range}&format=csv"))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.text().await.expect("text"),
        "date,offer_id,source,clicks_count\r\n\
         2024-01-02,7,\"with,comma \"\"q\"\"\",5\r\n\
         2024-01-01,12345,network_1,2\r\n"
    );

    // Accept: text/csv chooses CSV too; group_by and paging apply.
    let response = api
        .client
        .get(format!(
            "{}/api/reports/aggregated?{range}&group_by=offer_id&sort_by=offer_id&sort_direction=asc&limit=1&page=2",
            api.base
        ))
        .bearer_auth(support::KEY)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.text().await.expect("text"),
        "offer_id,clicks_count\r\n12345,2\r\n"
    );

    // No rows: the header alone.
    let response = api
        .get_raw("/api/reports/aggregated?start_date=2020-01-01&end_date=2020-01-01&format=csv")
        .await;
    assert_eq!(
        response.text().await.expect("text"),
        "date,offer_id,source,clicks_count\r\n"
    );

    // Invalid CSV requests are JSON 400s like any other.
    let (status, _) = api.get("/api/reports/aggregated?format=csv").await;
    assert_eq!(status, 400);
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn reports_need_a_bearer_key() {
    let db = TestDb::create().await;
    let api = Api::start(&db, NO_CACHE).await;
    for path in [
        "/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-01",
        "/api/reports/summary?start_date=2024-01-01&end_date=2024-01-01",
        "/api/reports/aggregated",
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic test-key")] {
            let mut request = api.client.get(format!("{}{path}", api.base));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status().as_u16(), 401, "{path} {auth:?}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body, json!({"error": "Unauthorized"}));
        }
    }
    api.stop();
    db.drop().await;
}
