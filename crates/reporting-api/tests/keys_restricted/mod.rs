//! Restricted reporting keys (`sources`/`offers` in the keys file) see only
//! their rows in every report form — aggregated (each grouping, sort and
//! page), CSV, summary (totals, days, hours, tops), in any time zone —
//! and the cache never hands one key's answer to another. Expected numbers
//! are computed here from the seeded clicks.

mod cache;
mod every_report;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;
use testkit::TestDb;

use crate::keys_support::{KeysFile, entry};
use crate::reports_support::add_clicks;

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
