//! A report over HTTP: `Accept` negotiation, 405 with `Allow`, a failing CSV query.

use crate::reports_support as support;

use serde_json::Value;
use support::{Api, add_clicks};
use testkit::TestDb;

use super::NO_CACHE;

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
