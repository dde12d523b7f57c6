//! The gateway's configuration, run by a real nginx in front of the three
//! programs (in-process, against real Redis and MariaDB): the old single base
//! URL routes webhooks to ingest, reports and export to reporting-api, and
//! `/api/health` is healthy only while every program is.

use std::time::{Duration, Instant};

use clap::Parser;
use gateway::{Gateway, Upstreams};
use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

const WEBHOOK_KEY: &str = "gateway-secret";
const API_KEY: &str = "gateway-key";
const DEADLINE: Duration = Duration::from_secs(15);

fn click(n: u64) -> Value {
    json!({
        "click_id": format!("gw-{n}"),
        "offer_id": 7 + n % 3,
        "source": "network_1",
        "timestamp": "2025-06-10T12:00:00Z",
        "signature": format!("sig-{n}"),
    })
}

struct Programs {
    upstreams: Upstreams,
    shutdown: CancellationToken,
    worker_shutdown: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

async fn start_programs(db: &TestDb, stream: &TestStream) -> Programs {
    let shutdown = CancellationToken::new();
    let ingest = ingest::Application::build(
        ingest::Settings::try_parse_from([
            "ingest".to_owned(),
            format!("--webhook-secret-key={WEBHOOK_KEY}"),
            format!("--redis-url={}", stream.redis_url),
            format!("--clicks-queue-name={}", stream.key),
            "--ingest-bind=127.0.0.1:0".to_owned(),
            "--http-workers=1".to_owned(),
        ])
        .expect("ingest settings"),
        shutdown.clone(),
    )
    .await
    .expect("ingest");
    let ingest_port = ingest.port();
    tokio::spawn(ingest.run_until_stopped());

    let worker_shutdown = CancellationToken::new();
    let worker = worker::Application::build(
        worker::Settings::try_parse_from(
            stream.worker_args(&db.url, ["--block-ms=100".to_owned()]),
        )
        .expect("worker settings"),
        worker_shutdown.clone(),
    )
    .await
    .expect("worker");
    let worker_port = worker.port();
    let worker = tokio::spawn(async move {
        worker.run_until_stopped().await.expect("worker run");
    });

    let reporting = reporting_api::Application::build(
        reporting_api::Settings::try_parse_from([
            "reporting-api".to_owned(),
            format!("--database-url={}", db.url),
            format!("--redis-url={}", stream.redis_url),
            "--reporting-bind=127.0.0.1:0".to_owned(),
            format!("--reporting-api-keys={API_KEY}"),
            "--finance-service-url=http://127.0.0.1:1".to_owned(),
        ])
        .expect("reporting-api settings"),
        shutdown.clone(),
    )
    .await
    .expect("reporting-api");
    let reporting_port = reporting.port();
    tokio::spawn(reporting.run_until_stopped());

    Programs {
        upstreams: Upstreams {
            ingest: ingest_port,
            reporting_api: reporting_port,
            worker: worker_port,
        },
        shutdown,
        worker_shutdown,
        worker,
    }
}

async fn get_json(client: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(key) = bearer {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

async fn post_signed(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).expect("json");
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature", domain::sign(WEBHOOK_KEY.as_bytes(), &bytes))
        .body(bytes)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

/// Polls the gateway's `/api/health` until it answers `status`.
async fn health_until(client: &reqwest::Client, gateway: &Gateway, status: u16) -> Value {
    let started = Instant::now();
    loop {
        let (got, body) = get_json(client, &format!("{}/api/health", gateway.url()), None).await;
        if got == status {
            return body;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "health stayed {got}, not {status}: {body}\n{}",
            gateway.error_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_gateway_serves_the_old_base_url_and_aggregates_health() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let programs = start_programs(&db, &stream).await;
    let gateway = Gateway::start(programs.upstreams)
        .await
        .unwrap_or_else(|e| panic!("gateway: {e}"));
    // A gateway that hangs fails the test instead of stalling it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = gateway.url();

    // Everything up: one healthy answer naming each program's own health.
    let health = health_until(&client, &gateway, 200).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "clicks-service");
    assert!(
        health["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    for (name, service) in [
        ("ingest", "ingest"),
        ("worker", "worker"),
        ("reporting-api", "reporting-api"),
    ] {
        assert_eq!(health["checks"][name]["status"], "up", "{health}");
        assert_eq!(health["checks"][name]["health"]["service"], service);
    }

    // Webhooks reach ingest: its exact answers, a 1,000-click batch included.
    let (status, body) =
        post_signed(&client, &format!("{base}/api/webhook/clicks"), &click(0)).await;
    assert_eq!((status, &body["click_id"]), (202, &json!("gw-0")), "{body}");
    let batch = json!({"clicks": (1..=1000).map(click).collect::<Vec<_>>()});
    let (status, body) =
        post_signed(&client, &format!("{base}/api/webhook/clicks/batch"), &batch).await;
    assert_eq!((status, &body["processed"]), (202, &json!(1000)), "{body}");
    let unsigned = client
        .post(format!("{base}/api/webhook/clicks"))
        .header("content-type", "application/json")
        .body(click(1).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status().as_u16(), 401);
    assert_eq!(
        unsigned.json::<Value>().await.expect("json"),
        json!({"error": "Invalid signature"})
    );

    // … and the worker behind them stores every click.
    let started = Instant::now();
    while db.click_count().await < 1001 {
        assert!(started.elapsed() < DEADLINE, "clicks not stored in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reports read the aggregates, which follow the stored clicks by a fold.
    db.settled_aggregates().await;

    // Reports and export reach reporting-api, with its authentication.
    let summary = format!("{base}/api/reports/summary?start_date=2025-06-10&end_date=2025-06-10");
    let (status, body) = get_json(&client, &summary, Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["total_clicks"], 1001);
    assert_eq!(body["summary"]["unique_offers"], 3);
    let (status, body) = get_json(&client, &summary, None).await;
    assert_eq!((status, body), (401, json!({"error": "Unauthorized"})));
    let aggregated = format!(
        "{base}/api/reports/aggregated?start_date=2025-06-10&end_date=2025-06-10&sort_by=offer_id&sort_direction=asc"
    );
    let (status, body) = get_json(&client, &aggregated, Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["offer_id"], 7);
    assert_eq!(body["pagination"]["total"], 3);
    let (status, body) = get_json(
        &client,
        &format!("{base}/api/export/status?date=2025-06-10"),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["date"], "2025-06-10");
    assert_eq!(body["data"]["finance_service_available"], false);

    // Paths the old service did not have are not exposed.
    for path in ["/metrics", "/api/openapi.json", "/_health/ingest"] {
        let (status, body) = get_json(&client, &format!("{base}{path}"), None).await;
        assert_eq!(
            (status, body),
            (404, json!({"error": "Not found"})),
            "{path}"
        );
    }

    // The worker stops: the service as a whole is unhealthy, and says which part.
    programs.worker_shutdown.cancel();
    programs.worker.await.expect("worker stopped");
    let health = health_until(&client, &gateway, 503).await;
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["checks"]["worker"]["status"], "down");
    assert_eq!(health["checks"]["worker"]["error"], "unreachable");
    assert_eq!(health["checks"]["ingest"]["status"], "up");
    assert_eq!(health["checks"]["reporting-api"]["status"], "up");

    programs.shutdown.cancel();
    drop(gateway);
    stream.drop().await;
    db.drop().await;
}
