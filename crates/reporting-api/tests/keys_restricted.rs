//! Restricted reporting keys (`sources`/`offers` in the keys file) see only
//! their rows in every report form — aggregated (each grouping, sort and
//! page), CSV, summary (totals, days, hours, tops), in any time zone —
//! and the cache never hands one key's answer to another. Expected numbers
//! are computed here from the seeded clicks.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;
use testkit::TestDb;

use crate::keys_support::{KeysFile, entry, ok_as};
use crate::reports_support::{Api, add_clicks};

/// (UTC hour, offer, source, clicks).
const CLICKS: &[(&str, u64, &str, u64)] = &[
    ("2024-05-01 10:00:00", 1, "net_a", 5),
    ("2024-05-01 10:00:00", 2, "net_a", 7),
    ("2024-05-01 11:00:00", 1, "net_b", 11),
    ("2024-05-01 23:00:00", 3, "net_a", 2),
    ("2024-05-02 02:00:00", 1, "net_a", 3), // 1 May in New York
    ("2024-05-02 12:00:00", 2, "net_c", 13),
    ("2024-05-02 15:00:00", 1, "net_a", 4),
    ("2024-05-03 01:00:00", 2, "net_b", 6), // 2 May in New York
    ("2024-05-03 03:00:00", 1, "net_b", 8), // 2 May in New York
    ("2024-05-04 02:00:00", 1, "net_a", 10), // 3 May in New York only
];
const RANGE: &str = "start_date=2024-05-01&end_date=2024-05-03";

/// A key of the test and the rows it may see.
struct Caller {
    key: &'static str,
    sources: Option<&'static [&'static str]>,
    offers: Option<&'static [u64]>,
}

const FULL: Caller = Caller {
    key: "full-key",
    sources: None,
    offers: None,
};
const CALLERS: [Caller; 4] = [
    FULL,
    Caller {
        key: "net-a-key",
        sources: Some(&["net_a"]),
        offers: None,
    },
    Caller {
        key: "ab-offer-1-key",
        sources: Some(&["net_a", "net_b"]),
        offers: Some(&[1]),
    },
    Caller {
        key: "offers-2-3-key",
        sources: None,
        offers: Some(&[2, 3]),
    },
];

fn keys_file() -> KeysFile {
    KeysFile::new(&format!(
        "{}{}{}{}",
        entry("full", "full-key", &["reports:read"], ""),
        entry(
            "net-a",
            "net-a-key",
            &["reports:read"],
            "sources = [\"net_a\"]"
        ),
        entry(
            "ab-offer-1",
            "ab-offer-1-key",
            &["reports:read"],
            "sources = [\"net_b\", \"net_a\"]\noffers = [1]"
        ),
        entry(
            "offers-2-3",
            "offers-2-3-key",
            &["reports:read"],
            "offers = [3, 2]"
        ),
    ))
}

async fn seeded() -> (TestDb, KeysFile) {
    let db = TestDb::create().await;
    for (hour, offer, source, clicks) in CLICKS {
        add_clicks(&db, hour, *offer, source, *clicks).await;
    }
    (db, keys_file())
}

/// A seeded click as the model sees it: local time in the zone.
struct Click {
    local: NaiveDateTime,
    offer: u64,
    source: &'static str,
    clicks: u64,
}

/// The clicks `caller` may see with the query's own `filter`
/// (`(offer_id, source)`), in zone `tz`, on the range's local dates.
fn visible(caller: &Caller, filter: (Option<u64>, Option<&str>), tz: Tz) -> Vec<Click> {
    let (first, last) = (date("2024-05-01"), date("2024-05-03"));
    CLICKS
        .iter()
        .map(|(hour, offer, source, clicks)| {
            let utc = NaiveDateTime::parse_from_str(hour, "%Y-%m-%d %H:%M:%S").expect("hour");
            Click {
                local: tz.from_utc_datetime(&utc).naive_local(),
                offer: *offer,
                source,
                clicks: *clicks,
            }
        })
        .filter(|c| (first..=last).contains(&c.local.date()))
        .filter(|c| caller.sources.is_none_or(|s| s.contains(&c.source)))
        .filter(|c| caller.offers.is_none_or(|o| o.contains(&c.offer)))
        .filter(|c| filter.0.is_none_or(|o| o == c.offer))
        .filter(|c| filter.1.is_none_or(|s| s == c.source))
        .collect()
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

/// A row's grouped values: `date`, `offer_id`, `source` as present.
type RowKey = (Option<String>, Option<u64>, Option<String>);

fn grouped(clicks: &[Click], group_by: &[&str]) -> BTreeMap<RowKey, u64> {
    let mut rows = BTreeMap::new();
    for c in clicks {
        let key = (
            group_by
                .contains(&"date")
                .then(|| c.local.date().to_string()),
            group_by.contains(&"offer_id").then_some(c.offer),
            group_by.contains(&"source").then(|| c.source.to_owned()),
        );
        *rows.entry(key).or_default() += c.clicks;
    }
    rows
}

fn row_key(row: &Value) -> RowKey {
    (
        row["date"].as_str().map(str::to_owned),
        row["offer_id"].as_u64(),
        row["source"].as_str().map(str::to_owned),
    )
}

fn api_rows(body: &Value) -> Vec<(RowKey, u64)> {
    body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|row| (row_key(row), row["clicks_count"].as_u64().expect("count")))
        .collect()
}

/// Every grouping, sort and page of the aggregated report in `zone`.
async fn check_aggregated(
    api: &Api,
    caller: &Caller,
    zone: &str,
    filter: (Option<u64>, Option<&str>),
) {
    let tz: Tz = zone.parse().expect("zone");
    let clicks = visible(caller, filter, tz);
    let mut query = format!("/api/reports/aggregated?{RANGE}&timezone={zone}");
    if let Some(offer) = filter.0 {
        query.push_str(&format!("&offer_id={offer}"));
    }
    if let Some(source) = filter.1 {
        query.push_str(&format!("&source={source}"));
    }
    for group_by in [
        "date,offer_id,source",
        "source",
        "offer_id",
        "date",
        "date,source",
    ] {
        let dims: Vec<&str> = group_by.split(',').collect();
        let expected = grouped(&clicks, &dims);
        let all = format!("{query}&group_by={group_by}&limit=1000");
        let body = ok_as(api, caller.key, &all).await;
        let rows = api_rows(&body);
        let context = format!("{} {all}", caller.key);
        assert_eq!(
            rows.iter().cloned().collect::<BTreeMap<_, _>>(),
            expected,
            "{context}"
        );
        assert_eq!(rows.len(), expected.len(), "{context}");
        assert!(
            rows.windows(2).all(|w| w[0].1 >= w[1].1),
            "clicks desc: {context}"
        );
        assert_eq!(body["pagination"]["total"], expected.len(), "{context}");

        // A page of two: the same order, the same total.
        let page = ok_as(
            api,
            caller.key,
            &format!("{query}&group_by={group_by}&limit=2&page=2"),
        )
        .await;
        assert_eq!(page["pagination"]["total"], expected.len(), "{context}");
        assert_eq!(
            page["pagination"]["last_page"],
            expected.len().div_ceil(2).max(1)
        );
        let slice: Vec<_> = rows.iter().skip(2).take(2).cloned().collect();
        assert_eq!(api_rows(&page), slice, "{context}");

        // Sorted by a grouped dimension, ascending.
        let by = dims[dims.len() - 1];
        let sorted = ok_as(
            api,
            caller.key,
            &format!("{all}&sort_by={by}&sort_direction=asc"),
        )
        .await;
        let keys: Vec<RowKey> = api_rows(&sorted).into_iter().map(|(key, _)| key).collect();
        let mut ordered = keys.clone();
        ordered.sort_by(|a, b| match by {
            "source" => a.2.cmp(&b.2),
            "offer_id" => a.1.cmp(&b.1),
            _ => a.0.cmp(&b.0),
        });
        assert_eq!(keys, ordered, "sorted by {by}: {context}");
    }

    // CSV: every row, the same numbers.
    let response = api
        .get_raw_as(
            caller.key,
            &format!("{query}&group_by=offer_id,source&format=csv"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("offer_id,source,clicks_count"));
    let csv: BTreeMap<RowKey, u64> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let key = (
                None,
                Some(fields[0].parse().expect("offer")),
                Some(fields[1].to_owned()),
            );
            (key, fields[2].parse().expect("count"))
        })
        .collect();
    assert_eq!(
        csv,
        grouped(&clicks, &["offer_id", "source"]),
        "CSV {} {query}",
        caller.key
    );
}

/// Totals, unique counts, days, hours and tops of the summary in `zone`.
async fn check_summary(api: &Api, caller: &Caller, zone: &str) {
    let tz: Tz = zone.parse().expect("zone");
    let clicks = visible(caller, (None, None), tz);
    let path = format!("/api/reports/summary?{RANGE}&timezone={zone}&interval=hour");
    let body = ok_as(api, caller.key, &path).await;
    let context = format!("{} {path}", caller.key);
    let summary = &body["summary"];
    let total: u64 = clicks.iter().map(|c| c.clicks).sum();
    assert_eq!(summary["total_clicks"], total, "{context}");
    let by_offer = grouped(&clicks, &["offer_id"]);
    let by_source = grouped(&clicks, &["source"]);
    assert_eq!(summary["unique_offers"], by_offer.len(), "{context}");
    assert_eq!(summary["unique_sources"], by_source.len(), "{context}");

    let daily: BTreeMap<String, u64> = body["daily"]
        .as_array()
        .expect("daily")
        .iter()
        .map(|d| {
            (
                d["date"].as_str().expect("date").to_owned(),
                d["clicks_count"].as_u64().expect("n"),
            )
        })
        .collect();
    let mut expected_daily: BTreeMap<String, u64> = ["2024-05-01", "2024-05-02", "2024-05-03"]
        .iter()
        .map(|d| ((*d).to_owned(), 0))
        .collect();
    for ((day, _, _), n) in grouped(&clicks, &["date"]) {
        expected_daily.insert(day.expect("date"), n);
    }
    assert_eq!(daily, expected_daily, "{context}");

    let hourly: BTreeMap<String, u64> = body["hourly"]
        .as_array()
        .expect("hourly")
        .iter()
        .map(|h| {
            (
                h["hour"].as_str().expect("hour").to_owned(),
                h["clicks_count"].as_u64().expect("n"),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut expected_hourly = BTreeMap::new();
    for c in &clicks {
        *expected_hourly
            .entry(c.local.format("%Y-%m-%dT%H:00:00").to_string())
            .or_default() += c.clicks;
    }
    assert_eq!(hourly, expected_hourly, "{context}");

    let tops = |list: &str, field: &str, rows: BTreeMap<RowKey, u64>| {
        let mut expected: Vec<(Value, u64)> = rows
            .into_iter()
            .map(|((_, offer, source), n)| {
                let key = offer.map_or_else(|| Value::from(source.expect("source")), Value::from);
                (key, n)
            })
            .collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.to_string().cmp(&b.0.to_string())));
        let listed: Vec<(Value, u64)> = body[list]
            .as_array()
            .expect("tops")
            .iter()
            .map(|t| (t[field].clone(), t["clicks_count"].as_u64().expect("n")))
            .collect();
        assert_eq!(listed, expected, "{list}: {context}");
    };
    tops("top_offers", "offer_id", by_offer);
    tops("top_sources", "source", by_source);
}

#[tokio::test]
async fn a_restricted_key_sees_only_its_rows_in_every_report() {
    let (db, file) = seeded().await;
    let api = Api::start(&db, &[&file.flag(), "--report-cache-ttl-secs=0"]).await;
    for caller in &CALLERS {
        for zone in ["UTC", "America/New_York"] {
            check_aggregated(&api, caller, zone, (None, None)).await;
            check_summary(&api, caller, zone).await;
        }
    }
    // The query's own filters narrow the key's rows further; outside them,
    // an empty answer (not an error).
    let net_a = &CALLERS[1];
    for filter in [
        (None, Some("net_a")),
        (None, Some("net_b")),
        (Some(2), None),
        (Some(9), Some("net_a")),
    ] {
        check_aggregated(&api, net_a, "UTC", filter).await;
    }
    let empty = ok_as(
        &api,
        net_a.key,
        &format!("/api/reports/summary?{RANGE}&source=net_c"),
    )
    .await;
    assert_eq!(empty["summary"]["total_clicks"], 0);
    assert_eq!(empty["top_sources"], serde_json::json!([]));
    check_aggregated(&api, &CALLERS[3], "UTC", (Some(2), Some("net_c"))).await;
    check_aggregated(&api, &CALLERS[2], "America/New_York", (Some(2), None)).await;

    // A dashboard session sees what its key sees.
    let cookie = api.open_session(net_a.key).await;
    let summary = format!("/api/reports/summary?{RANGE}");
    let by_cookie: Value = api
        .client
        .get(format!("{}{summary}", api.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(by_cookie, ok_as(&api, net_a.key, &summary).await);
    assert_eq!(by_cookie["summary"]["total_clicks"], 5 + 7 + 2 + 3 + 4);
    api.stop();
    file.remove();
    db.drop().await;
}

#[tokio::test]
async fn the_cache_never_serves_one_keys_rows_to_another() {
    let (db, file) = seeded().await;
    let api = Api::start(&db, &[&file.flag()]).await;
    let net_a = &CALLERS[1];
    for path in [
        format!("/api/reports/summary?{RANGE}"),
        format!("/api/reports/summary?{RANGE}&timezone=America/New_York&interval=hour"),
        format!("/api/reports/aggregated?{RANGE}&group_by=source"),
        format!("/api/reports/aggregated?{RANGE}"),
    ] {
        let (first, full) = api.cached_as(FULL.key, &path).await;
        assert_eq!(first, "miss", "{path}");
        let (again, cached) = api.cached_as(FULL.key, &path).await;
        assert_eq!((again.as_str(), &cached), ("hit", &full), "{path}");

        let (first, own) = api.cached_as(net_a.key, &path).await;
        assert_eq!(first, "miss", "{path}: the unrestricted answer was served");
        assert_ne!(own, full, "{path}");
        let (again, cached) = api.cached_as(net_a.key, &path).await;
        assert_eq!((again.as_str(), &cached), ("hit", &own), "{path}");
        // Another restriction has its own entry too.
        assert_eq!(
            api.cached_as(CALLERS[3].key, &path).await.0,
            "miss",
            "{path}"
        );
        assert_eq!(
            api.cached_as(FULL.key, &path).await,
            ("hit".to_owned(), full)
        );
    }
    let summary = ok_as(&api, net_a.key, &format!("/api/reports/summary?{RANGE}")).await;
    assert_eq!(summary["summary"]["total_clicks"], 5 + 7 + 2 + 3 + 4);
    assert_eq!(
        summary["top_sources"],
        serde_json::json!([{"source": "net_a", "clicks_count": 21}])
    );
    api.stop();
    file.remove();
    db.drop().await;
}
