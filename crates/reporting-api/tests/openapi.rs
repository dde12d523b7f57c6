//! `/api/openapi.json` describes every route the reporting API serves, and
//! serves nothing it does not describe.

use crate::reports_support as support;

use serde_json::Value;
use support::Api;
use testkit::TestDb;

/// Every route of the app (startup.rs, reports::configure, export::configure).
const ROUTES: [(&str, &str); 9] = [
    ("get", "/api/reports/aggregated"),
    ("get", "/api/reports/summary"),
    ("post", "/api/export/forward"),
    ("get", "/api/export/status"),
    ("get", "/api/health"),
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn every_route_is_in_the_document() {
    let db = TestDb::create().await;
    // Finance is never reached: export calls fail fast or fail validation.
    let api = Api::start(&db, &["--finance-service-url=http://127.0.0.1:1"]).await;
    let base = api.base.clone();
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");

    for (method, path) in ROUTES {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        assert!(operation["responses"]["200"].is_object(), "{method} {path}");
        // The route exists: anything but the app's 404 (validation errors are fine).
        let response = client
            .request(
                method.to_uppercase().parse().expect("method"),
                format!("{base}{path}"),
            )
            .bearer_auth(support::KEY)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_ne!(response.status().as_u16(), 404, "{method} {path}");
    }
    // And the document lists nothing else.
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().expect("path item").len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );

    // Report parameters and schemas come from the handlers' annotations.
    let aggregated = &paths["/api/reports/aggregated"]["get"];
    let names: Vec<&str> = aggregated["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    for name in [
        "start_date",
        "end_date",
        "offer_id",
        "source",
        "sort_by",
        "sort_direction",
        "limit",
        "page",
        "group_by",
        "timezone",
        "format",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    let row = &doc["components"]["schemas"]["AggregatedRow"]["properties"];
    for field in ["date", "offer_id", "source", "clicks_count"] {
        assert!(row[field].is_object(), "{field}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    api.stop();
    db.drop().await;
}
