//! Webhooks in, rows out: ingest and worker together against real Redis and MariaDB.

use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

const KEY: &str = "e2e-secret";

fn click(n: u64) -> Value {
    json!({
        "click_id": format!("e2e-{n}"),
        "offer_id": 1000 + n % 5,
        "source": format!("src_{}", n % 4),
        "timestamp": format!("2025-06-{:02}T{:02}:30:00+00:00", 10 + n % 3, n % 24),
        "signature": "sig",
    })
}

#[tokio::test]
async fn clicks_posted_to_ingest_end_up_once_in_mysql_with_exact_aggregates() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let shutdown = CancellationToken::new();

    let ingest = ingest::Application::build(
        ingest::Settings::try_parse_from([
            "ingest".to_owned(),
            format!("--webhook-secret-key={KEY}"),
            format!("--redis-url={}", stream.redis_url),
            format!("--clicks-queue-name={}", stream.key),
            "--ingest-bind=127.0.0.1:0".to_owned(),
            "--http-workers=2".to_owned(),
        ])
        .expect("ingest settings"),
        shutdown.clone(),
    )
    .await
    .expect("ingest");
    let base = format!("http://127.0.0.1:{}", ingest.port());
    let ingest_task = tokio::spawn(ingest.run_until_stopped());

    let mut workers = Vec::new();
    let mut worker_ports = Vec::new();
    for name in ["e2e-a", "e2e-b"] {
        let app = worker::Application::build(
            worker::Settings::try_parse_from([
                "worker".to_owned(),
                format!("--database-url={}", db.url),
                format!("--redis-url={}", stream.redis_url),
                format!("--clicks-queue-name={}", stream.key),
                "--worker-bind=127.0.0.1:0".to_owned(),
                format!("--consumer-name={name}"),
                "--clicks-batch-size=50".to_owned(),
                "--block-ms=100".to_owned(),
            ])
            .expect("worker settings"),
            shutdown.clone(),
        )
        .await
        .expect("worker");
        worker_ports.push(app.port());
        workers.push(tokio::spawn(app.run_until_stopped()));
    }

    let client = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let bytes = serde_json::to_vec(&body).expect("json");
            client
                .post(url)
                .header("content-type", "application/json")
                .header("x-signature", domain::sign(KEY.as_bytes(), &bytes))
                .body(bytes)
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }
    };
    // 300 single clicks, 100 of them sent twice; then a batch repeating 50 and adding 200.
    let singles = (0..300)
        .chain(0..100)
        .map(|n| post("/api/webhook/clicks", click(n)));
    let statuses = futures_util::future::join_all(singles).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let batch: Vec<Value> = (250..500).map(click).collect();
    assert_eq!(
        post("/api/webhook/clicks/batch", json!({"clicks": batch})).await,
        202
    );

    let expected = 500;
    let mut stored = 0;
    for _ in 0..250 {
        stored = db.scalar("SELECT COUNT(*) FROM clicks").await;
        if stored >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored, expected);
    // Let any straggling duplicate be processed, then check nothing moved.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM clicks").await, expected);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(clicks_count) AS SIGNED) FROM click_daily_stats")
            .await,
        expected
    );
    // Each aggregate equals the count over the clicks table, e.g. offer 1000, src_0, 2025-06-10:
    // n ≡ 0 (mod 5), n ≡ 0 (mod 4), n ≡ 0 (mod 3) → n ∈ {0, 60, …, 480}: 9 clicks.
    assert_eq!(
        db.scalar("SELECT CAST(clicks_count AS SIGNED) FROM click_daily_stats WHERE click_date = '2025-06-10' AND offer_id = 1000 AND source = 'src_0'")
            .await,
        9
    );
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM click_daily_stats s JOIN (SELECT click_date, offer_id, source, COUNT(*) AS n \
             FROM clicks GROUP BY click_date, offer_id, source) c USING (click_date, offer_id, source) \
             WHERE c.n <> s.clicks_count"
        )
        .await,
        0
    );

    // The worker's probes: healthy with every dependency up.
    let health: Value = client
        .get(format!("http://127.0.0.1:{}/api/health", worker_ports[0]))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["service"], "worker");
    assert_eq!(health["checks"]["mysql"]["status"], "up");
    assert_eq!(health["checks"]["loop"]["status"], "up");
    let metrics = client
        .get(format!("http://127.0.0.1:{}/metrics", worker_ports[0]))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "worker_batches_total",
        "worker_clicks_inserted_total",
        "worker_clicks_duplicate_total",
        "worker_batch_duration_seconds",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    for probe in ["/livez", "/readyz"] {
        let status = client
            .get(format!("http://127.0.0.1:{}{probe}", worker_ports[0]))
            .send()
            .await
            .expect("probe")
            .status()
            .as_u16();
        assert_eq!(status, 200, "{probe}");
    }

    shutdown.cancel();
    ingest_task
        .await
        .expect("join")
        .expect("ingest stops cleanly");
    for worker in workers {
        worker.await.expect("join").expect("worker stops cleanly");
    }
    db.drop().await;
    stream.drop().await;
}
