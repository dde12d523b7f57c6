//! The export's Prometheus metrics move with what an export does: runs by
//! outcome, chunks and clicks Finance took, and retries.
//!
//! The recorder is one per process and may already hold values, so the test
//! compares `/metrics` before and after each run. This file holds a single
//! test, so nothing else exports in its process and the differences are exact.

use crate::export_support as support;

use reporting_api::export::{
    EXPORT_CHUNKS_TOTAL, EXPORT_CLICKS_TOTAL, EXPORT_RETRIES_TOTAL, EXPORT_RUNS_TOTAL,
};
use serde_json::json;
use support::*;
use testkit::TestDb;
use testkit::metrics::{metric, scrape};
use wiremock::ResponseTemplate;

/// How much each export series moved between two scrapes.
#[derive(Debug, PartialEq)]
struct Moved {
    completed: f64,
    failed: f64,
    chunks: f64,
    clicks: f64,
    retries: f64,
}

fn moved(before: &str, after: &str) -> Moved {
    let delta = |name: &str, labels: &[(&str, &str)]| {
        metric(after, name, labels) - metric(before, name, labels)
    };
    Moved {
        completed: delta(EXPORT_RUNS_TOTAL, &[("outcome", "completed")]),
        failed: delta(EXPORT_RUNS_TOTAL, &[("outcome", "failed")]),
        chunks: delta(EXPORT_CHUNKS_TOTAL, &[]),
        clicks: delta(EXPORT_CLICKS_TOTAL, &[]),
        retries: delta(EXPORT_RETRIES_TOTAL, &[]),
    }
}

#[tokio::test]
async fn export_runs_move_runs_chunks_clicks_and_retries() {
    let db = TestDb::create().await;
    insert_clicks(&db, DATE, 0, 12).await;

    // 12 clicks in chunks of 5; Finance answers the first attempt 503, then takes everything.
    let finance_up = finance(Script::new(vec![ResponseTemplate::new(503), ok()])).await;
    let api = Api::start(settings(
        &db,
        &finance_up.uri(),
        &["--finance-export-chunk-size=5"],
    ))
    .await;
    let url = format!("{}/metrics", api.base);
    let before = scrape(&url).await;
    let (status, answer) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200, "{answer}");
    let after = scrape(&url).await;
    assert_eq!(
        moved(&before, &after),
        Moved {
            completed: 1.0,
            failed: 0.0,
            chunks: 3.0,
            clicks: 12.0,
            retries: 1.0,
        }
    );
    assert!(
        after.contains("export_runs_total{outcome=\"completed\"}"),
        "{after}"
    );

    // Another date, and a Finance that always fails: two retries, then the run fails.
    insert_clicks(&db, "2025-06-11", 0, 4).await;
    let finance_down = finance(ResponseTemplate::new(500)).await;
    let api = Api::start(settings(&db, &finance_down.uri(), &[])).await;
    let url = format!("{}/metrics", api.base);
    let before = scrape(&url).await;
    let (status, answer) = api.forward(json!({"date": "2025-06-11"})).await;
    assert_eq!(status, 502, "{answer}");
    let after = scrape(&url).await;
    assert_eq!(
        moved(&before, &after),
        Moved {
            completed: 0.0,
            failed: 1.0,
            chunks: 0.0,
            clicks: 0.0,
            retries: 2.0,
        }
    );
    db.drop().await;
}
