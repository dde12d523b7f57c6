//! Webhooks in, rows out: ingest and worker together against real Redis and MariaDB.

use clap::Parser;
use serde_json::{Value, json};
use testkit::{RedisCluster, TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support;

use ingest_support::Ingest;

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

type Workers = Vec<tokio::task::JoinHandle<anyhow::Result<()>>>;

/// Workers named `names` on `db` and `stream`, and their HTTP ports.
async fn start_workers(
    db: &TestDb,
    stream: &TestStream,
    names: &[&str],
    shutdown: &CancellationToken,
) -> (Workers, Vec<u16>) {
    let mut workers = Vec::new();
    let mut worker_ports = Vec::new();
    for name in names {
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
                // Folds come only from lanes catching up (or shutdown), so
                // the aggregates settling proves that path.
                "--aggregates-fold-interval-ms=60000".to_owned(),
            ])
            .expect("worker settings"),
            shutdown.clone(),
        )
        .await
        .expect("worker");
        worker_ports.push(app.port());
        workers.push(tokio::spawn(app.run_until_stopped()));
    }
    (workers, worker_ports)
}

/// Stops ingest and the workers (each must stop cleanly), then drops the
/// database and the stream.
async fn tear_down(
    shutdown: CancellationToken,
    ingest: Ingest,
    workers: Workers,
    db: TestDb,
    stream: TestStream,
) {
    shutdown.cancel();
    ingest.stop().await;
    for worker in workers {
        worker.await.expect("join").expect("worker stops cleanly");
    }
    db.drop().await;
    stream.drop().await;
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
    assert_eq!(
        db.scalar("SELECT CAST(clicks_count AS SIGNED) FROM click_daily_stats WHERE click_date = '2025-06-10' AND offer_id = 1000 AND source = 'src_0'")
            .await,
        9
    );

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

/// Ids and sources that differ in any character — a trailing space, letter
/// case, Unicode normalisation — are different clicks and different rows of
/// every aggregate; an id of only whitespace is refused.
#[tokio::test]
async fn ids_and_sources_that_differ_in_any_character_are_different() {
    let stream = TestStream::create();
    let db = TestDb::create().await;
    let shutdown = CancellationToken::new();
    let ingest = Ingest::start(&stream.redis_url, &stream.key, &[]).await;
    let (workers, _) = start_workers(&db, &stream, &["exact"], &shutdown).await;

    // NFC "café" and NFD "cafe\u{301}" look alike and are two ids and two sources.
    let pairs = [
        ("pad_id", "net"),
        ("pad_id ", "net "),
        ("pad_id  ", "Net"),
        ("PAD_ID", "net"),
        ("caf\u{e9}", "caf\u{e9}"),
        ("cafe\u{301}", "cafe\u{301}"),
    ];
    let click = |id: &str, source: &str| {
        json!({
            "click_id": id,
            "offer_id": 7,
            "source": source,
            "timestamp": "2025-06-10T10:00:00Z",
            "signature": "sig",
        })
    };
    let post = |path: &'static str, body: Value| {
        let ingest = &ingest;
        async move {
            let response = ingest
                .post_signed(path, serde_json::to_vec(&body).expect("json"))
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json body"))
        }
    };
    // Each twice: the copies are duplicates, the near-lookalikes are not.
    for _ in 0..2 {
        for (id, source) in pairs {
            let (status, body) = post("/api/webhook/clicks", click(id, source)).await;
            assert_eq!(status, 202, "{id:?}: {body}");
            assert_eq!(body["click_id"], id, "the id is answered as sent");
        }
    }
    for blank in [" ", "   ", "\u{a0}"] {
        let (status, body) = post("/api/webhook/clicks", click(blank, "net")).await;
        assert_eq!(status, 400, "{blank:?}: {body}");
        assert_eq!(
            body["details"]["click_id"][0], "The click_id field must not be only whitespace.",
            "{body}"
        );
    }
    let (status, body) = post(
        "/api/webhook/clicks/batch",
        json!({"clicks": [click("  ", "net"), click("batch-ok", "net")]}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(1), Some(1)),
        "{body}"
    );
    assert_eq!(body["errors"][0]["index"], 0, "{body}");

    let expected = pairs.len() as u64 + 1;
    assert_eq!(db.settled_click_count(expected).await, expected);
    assert_eq!(db.daily_mismatches_and_total().await, (0, expected));
    for (id, _) in pairs {
        let sql = format!("SELECT COUNT(*) FROM clicks WHERE click_id = '{id}'");
        assert_eq!(db.scalar(&sql).await, 1, "{id:?} is one row");
    }
    // "net" has pad_id, PAD_ID and batch-ok; "net " and "Net" one each.
    for (source, count) in [
        ("net", 3),
        ("net ", 1),
        ("Net", 1),
        ("caf\u{e9}", 1),
        ("cafe\u{301}", 1),
    ] {
        for table in [
            "click_daily_stats",
            "click_hourly_stats",
            "click_daily_source_stats",
        ] {
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM {table} WHERE source = '{source}'"
            );
            assert_eq!(db.scalar(&sql).await, count, "{table}, source {source:?}");
        }
    }

    tear_down(shutdown, ingest, workers, db, stream).await;
}

/// The migration to exact identity converts tables that already hold rows:
/// before it, `"a"` and `"a "` collide on the unique key; after it, both fit,
/// and the rows already there are kept.
#[tokio::test]
async fn the_exact_identity_migration_converts_existing_tables() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    let db = TestDb::create().await;
    let insert = |id: &str| {
        format!(
            "INSERT INTO clicks (click_id, offer_id, source, clicked_at, click_date, signature, received_at, batch_token) \
             VALUES ('{id}', 1, 'net', '2025-06-10 10:00:00', '2025-06-10', 's', '2025-06-10 10:00:00', 1)"
        )
    };
    let collations = "SELECT COUNT(*) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN ('click_id', 'source') \
         AND COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')";
    // The newest two: the aggregate deltas' table, then exact identity.
    Migrator::down(&db.conn, Some(2))
        .await
        .expect("back to PAD SPACE");
    assert_eq!(db.scalar(collations).await, 0);
    db.conn
        .execute_unprepared(&insert("a"))
        .await
        .expect("first row");
    let padded = db.conn.execute_unprepared(&insert("a ")).await;
    assert!(padded.is_err(), "PAD SPACE: 'a ' collides with 'a'");

    Migrator::up(&db.conn, None)
        .await
        .expect("to exact identity");
    // clicks.click_id, clicks.source and the source of three aggregates.
    assert_eq!(db.scalar(collations).await, 5);
    db.conn
        .execute_unprepared(&insert("a "))
        .await
        .expect("'a ' is a new id");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM clicks").await, 2);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM clicks WHERE click_id = 'a'")
            .await,
        1
    );
    db.drop().await;
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

/// Each SeaORM entity of `storage` matches its migrated table: the same
/// columns, each of a compatible type, signedness and nullability — so an
/// entity cannot drift from the schema the migrations make.
#[tokio::test]
async fn every_entity_matches_its_migrated_table() {
    use storage::entity::{aggregate_delta, click, click_export, report_date_version};

    let db = TestDb::create().await;
    entity_matches_table::<aggregate_delta::Entity>(&db).await;
    entity_matches_table::<click::Entity>(&db).await;
    entity_matches_table::<click_export::Entity>(&db).await;
    entity_matches_table::<report_date_version::Entity>(&db).await;
    db.drop().await;
}

async fn entity_matches_table<E: sea_orm::EntityTrait>(db: &TestDb) {
    use std::collections::BTreeMap;

    use sea_orm::{ColumnTrait, ColumnType, ConnectionTrait, IdenStatic, Iterable};

    let table = E::default().table_name().to_owned();
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::MySql,
            format!(
                "SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, \
                 IS_NULLABLE AS nullable FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
            ),
        ))
        .await
        .expect("columns");
    // name → (data type, unsigned, nullable)
    let mut migrated: BTreeMap<String, (String, bool, bool)> = rows
        .iter()
        .map(|row| {
            let text = |column: &str| -> String { row.try_get("", column).expect(column) };
            (
                text("name"),
                (
                    text("data_type").to_lowercase(),
                    text("column_type").to_lowercase().contains("unsigned"),
                    text("nullable") == "YES",
                ),
            )
        })
        .collect();
    assert!(!migrated.is_empty(), "table {table} is not migrated");
    for column in E::Column::iter() {
        let name = column.as_str().to_owned();
        let def = column.def();
        let (types, unsigned): (&[&str], bool) = match def.get_column_type() {
            ColumnType::BigUnsigned => (&["bigint"], true),
            ColumnType::Unsigned => (&["int"], true),
            ColumnType::BigInteger => (&["bigint"], false),
            ColumnType::Integer => (&["int"], false),
            ColumnType::String(_) | ColumnType::Text => (
                &["varchar", "char", "text", "mediumtext", "longtext"],
                false,
            ),
            ColumnType::DateTime => (&["datetime"], false),
            ColumnType::Date => (&["date"], false),
            other => panic!("{table}.{name}: teach this test the type {other:?}"),
        };
        let (data_type, is_unsigned, nullable) = migrated
            .remove(&name)
            .unwrap_or_else(|| panic!("{table}.{name} is in the entity, not in the table"));
        assert!(
            types.contains(&data_type.as_str()),
            "{table}.{name}: entity {:?}, table {data_type}",
            def.get_column_type()
        );
        assert_eq!(is_unsigned, unsigned, "{table}.{name}: unsigned");
        assert_eq!(nullable, def.is_null(), "{table}.{name}: nullable");
    }
    assert!(
        migrated.is_empty(),
        "{table} has columns its entity does not name: {:?}",
        migrated.keys().collect::<Vec<_>>()
    );
}
