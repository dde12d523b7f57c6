//! Which rows and in what order: sorting, pagination, filters and group_by.

use crate::reports_support::{Api, add_daily};

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::TestDb;

use super::NO_CACHE;

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
