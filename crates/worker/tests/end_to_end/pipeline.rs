//! The whole pipeline on one Redis or a cluster, and the worker's probes and metrics.

use serde_json::{Value, json};
use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support::Ingest;

use super::{start_workers, tear_down};

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
    posted_clicks_end_up_once(TestStream::create(), false).await;
}

#[tokio::test]
async fn the_same_through_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    posted_clicks_end_up_once(TestStream::create_on(&cluster.url()), true).await;
}

async fn posted_clicks_end_up_once(stream: TestStream, cluster: bool) {
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();

    let ingest = Ingest::start(&stream.redis_url, &stream.key, &["--http-workers=2"]).await;
    let (workers, worker_ports) = start_workers(&db, &stream, &["e2e-a", "e2e-b"], &shutdown).await;

    let post = |path: &'static str, body: Value| {
        let ingest = &ingest;
        async move {
            let bytes = serde_json::to_vec(&body).expect("json");
            ingest.post_signed(path, bytes).await.status().as_u16()
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
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));
    // Each aggregate equals the count over the clicks table, e.g. offer 1000, src_0, 2025-06-10:
    // n ≡ 0 (mod 5), n ≡ 0 (mod 4), n ≡ 0 (mod 3) → n ∈ {0, 60, …, 480}: 9 clicks.
    let date = chrono::NaiveDate::from_ymd_opt(2025, 6, 10).expect("date");
    let counted = storage::inspect::daily_count(&db.conn, date, 1000, "src_0")
        .await
        .expect("read a daily row");
    assert_eq!(counted, Some(9));

    // The worker's probes: healthy with every dependency up.
    let client = reqwest::Client::new();
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
    assert_eq!(health["checks"]["redis"]["status"], "up", "{health}");
    if cluster {
        let redis = &health["checks"]["redis"];
        assert_eq!(redis["degraded"], false, "{health}");
        assert_eq!(redis["cluster"]["masters"], 3, "{health}");
        assert_eq!(redis["cluster"]["replicas"], 3, "{health}");
        assert_eq!(redis["cluster"]["slots_ok"], 16384, "{health}");
    }
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

    tear_down(shutdown, ingest, workers, db, stream).await;
}

/// The first scrape, before any batch, lists every metric of the worker
/// with its help text and its counters at 0 (it used to be empty until a
/// batch ran, so an alert on `rate(…)` had no series).
#[tokio::test]
async fn the_first_scrape_lists_every_metric_at_zero() {
    let db = TestDb::create().await;
    let stream = TestStream::create();
    let text = testkit::http::first_scrape(
        env!("CARGO_BIN_EXE_worker"),
        &[
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", stream.redis_url.clone()),
            ("CLICKS_QUEUE_NAME", stream.key.clone()),
        ],
        "WORKER_BIND",
    )
    .await;
    testkit::http::assert_registered(
        &text,
        &[
            "worker_batches_total",
            "worker_batch_duration_seconds",
            "worker_clicks_inserted_total",
            "worker_clicks_duplicate_total",
            "worker_dead_lettered_total",
            "worker_aggregate_folds_total",
            "worker_aggregate_folded_clicks_total",
            "worker_aggregate_fold_duration_seconds",
            "aggregate_pending_deltas",
            "http_requests_total",
        ],
        &[
            "worker_batches_total",
            "worker_batch_duration_seconds_count",
            "worker_clicks_inserted_total",
            "worker_clicks_duplicate_total",
            "worker_dead_lettered_total",
            "worker_aggregate_folds_total",
            "worker_aggregate_folded_clicks_total",
        ],
    );
    db.drop().await;
    stream.drop().await;
}
