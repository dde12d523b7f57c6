//! Each restricted key's rows in every report form, checked against the model.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde_json::Value;

use crate::keys_support::ok_as;
use crate::reports_support::Api;

use super::{CALLERS, Caller, RANGE, RowKey, api_rows, grouped, seeded, visible};

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
