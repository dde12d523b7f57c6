//! `/api/openapi.json` describes every route ingest serves, and nothing else.

use crate::support;

use serde_json::Value;
use support::Ingest;
use testkit::TestStream;

/// Every route of the app (startup.rs).
const ROUTES: [(&str, &str); 7] = [
    ("post", "/api/webhook/clicks"),
    ("post", "/api/webhook/clicks/batch"),
    ("get", "/api/health"),
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn every_route_is_in_the_document() {
    let stream = TestStream::create();
    let ingest = Ingest::start(&stream.redis_url, &stream.key, &[]).await;
    let base = ingest.base.clone();
    let client = reqwest::Client::new();

    let doc: Value = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method];
        assert!(operation.is_object(), "{method} {path}");
        // The route exists (an unsigned webhook is a 401, not a 404).
        let response = client
            .request(
                method.to_uppercase().parse().expect("method"),
                format!("{base}{path}"),
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_ne!(response.status().as_u16(), 404, "{method} {path}");
    }
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().expect("path item").len())
        .sum();
    assert_eq!(documented, ROUTES.len());

    let click = &paths["/api/webhook/clicks"]["post"];
    assert!(click["responses"]["202"].is_object());
    assert!(click["responses"]["401"].is_object());
    let schema = &doc["components"]["schemas"]["ClickPayload"];
    for field in ["click_id", "offer_id", "source", "timestamp", "signature"] {
        assert!(schema["properties"][field].is_object(), "{field}");
        assert!(
            schema["required"]
                .as_array()
                .expect("required")
                .contains(&Value::from(field)),
            "{field}"
        );
    }
    assert!(doc["components"]["schemas"]["BatchAccepted"].is_object());
    ingest.stop().await;
    stream.drop().await;
}
