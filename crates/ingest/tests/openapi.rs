//! `/api/openapi.json` describes every route ingest serves, and nothing else.

use clap::Parser;
use ingest::{Application, Settings};
use serde_json::Value;
use testkit::TestStream;
use tokio_util::sync::CancellationToken;

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
    let settings = Settings::try_parse_from([
        "ingest".to_owned(),
        "--webhook-secret-key=secret".to_owned(),
        format!("--redis-url={}", stream.redis_url),
        format!("--clicks-queue-name={}", stream.key),
        "--ingest-bind=127.0.0.1:0".to_owned(),
        "--http-workers=1".to_owned(),
    ])
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
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
    shutdown.cancel();
    stream.drop().await;
}
