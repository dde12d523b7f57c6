//! Shutting ingest and the worker down while clicks pour in loses nothing:
//! every click answered 202 ends up stored exactly once, the worker commits
//! and acknowledges the batch in its hands before it exits, and both stop
//! within a bounded time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use clickstream::{DEFAULT_GROUP, StreamNames};
use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;
use worker::{Lane, LaneOptions, Outcome};

// This test posts with its own client, which must survive ingest going away.
use crate::ingest_support;

use ingest_support::{Ingest, KEY};

const CLIENTS: usize = 8;
const CLICKS_PER_CLIENT: usize = 150;
/// Shutdown is requested once this many clicks were accepted: load is in flight.
const SHUTDOWN_AFTER: usize = 300;
/// What "bounded" means for both services to stop.
const STOP_LIMIT: Duration = Duration::from_secs(10);
const CONSUMER: &str = "graceful";
const LANES: u32 = 2;

fn click(id: &str, n: usize) -> Value {
    json!({
        "click_id": id,
        "offer_id": 500 + n % 3,
        "source": format!("src_{}", n % 2),
        "timestamp": "2025-06-12T10:00:00Z",
        "signature": "sig",
    })
}

/// What the clients saw: click ids answered 202, and every status or error.
#[derive(Default)]
struct Sent {
    accepted: Vec<String>,
    sent: Vec<String>,
    answers: HashMap<String, usize>,
}

/// Sends this client's clicks one request at a time until done or ingest is gone.
async fn client(base: String, number: usize, accepted_so_far: Arc<AtomicUsize>) -> Sent {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut sent = Sent::default();
    for n in 0..CLICKS_PER_CLIENT {
        let id = format!("gs-{number}-{n}");
        let body = serde_json::to_vec(&click(&id, n)).expect("json");
        sent.sent.push(id.clone());
        let answer = http
            .post(format!("{base}/api/webhook/clicks"))
            .header("content-type", "application/json")
            .header("x-signature", domain::sign(KEY.as_bytes(), &body))
            .body(body)
            .send()
            .await;
        let label = match answer {
            Ok(response) => response.status().as_u16().to_string(),
            Err(_) => "no answer".to_owned(),
        };
        *sent.answers.entry(label.clone()).or_default() += 1;
        match label.as_str() {
            "202" => {
                sent.accepted.push(id);
                accepted_so_far.fetch_add(1, Ordering::Relaxed);
            }
            // Ingest has stopped listening: the rest would not be answered either.
            "no answer" => break,
            _ => {}
        }
    }
    sent
}

/// The entries pending in the group, by consumer: `(entry id, consumer)`.
async fn pending_entries(stream: &TestStream) -> Vec<(String, String)> {
    let names = StreamNames {
        stream: stream.key.clone(),
        group: DEFAULT_GROUP.to_owned(),
        consumer: String::new(),
    };
    clickstream::inspect::pending_entries(&mut stream.conn().await, &names, 100_000)
        .await
        .expect("xpending")
}

/// The click ids of each stream entry (a packed entry holds several).
async fn click_ids_by_entry(stream: &TestStream) -> HashMap<String, Vec<String>> {
    let entries = clickstream::inspect::entries(&mut stream.conn().await, &stream.key)
        .await
        .expect("xrange");
    entries
        .into_iter()
        .map(|entry| {
            let clicks = domain::stream_entry::decode_entry(&entry.fields).expect("clicks");
            let ids = clicks.into_iter().map(|click| click.click.click_id);
            (entry.id, ids.collect())
        })
        .collect()
}

/// Every stored `click_id`, walked by primary key a page at a time.
async fn stored_ids(db: &TestDb) -> Vec<String> {
    const PAGE: u64 = 1_000;
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = storage::inspect::click_ids_after(&db.conn, after, PAGE)
            .await
            .expect("clicks");
        let Some((last, _)) = page.last() else {
            return ids;
        };
        after = *last;
        ids.extend(page.into_iter().map(|(_, click_id)| click_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_loses_nothing_and_finishes_the_batch_in_hand() {
    let db = TestDb::create().await;
    let stream = TestStream::create();

    let ingest = Ingest::start(&stream.redis_url, &stream.key, &["--http-workers=2"]).await;
    let base = ingest.base.clone();

    let worker_stop = CancellationToken::new();
    let worker_app = worker::Application::build(
        worker::Settings::try_parse_from(stream.worker_args(
            &db.url,
            [
                format!("--consumer-name={CONSUMER}"),
                format!("--concurrency={LANES}"),
                "--clicks-batch-size=50".to_owned(),
                "--block-ms=200".to_owned(),
            ],
        ))
        .expect("worker settings"),
        worker_stop.clone(),
    )
    .await
    .expect("worker");
    let worker_task = tokio::spawn(worker_app.run_until_stopped());

    let accepted_so_far = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| tokio::spawn(client(base.clone(), number, Arc::clone(&accepted_so_far))))
        .collect();

    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted_so_far.load(Ordering::Relaxed) < SHUTDOWN_AFTER {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Both at once, as an orchestrator's SIGTERM to every pod would.
    let stopping = Instant::now();
    worker_stop.cancel();
    // `stop` cancels ingest at once and waits, within its own 10 s limit.
    ingest.stop().await;
    tokio::time::timeout(STOP_LIMIT.saturating_sub(stopping.elapsed()), worker_task)
        .await
        .expect("the worker stops in time")
        .expect("joins")
        .expect("the worker exits cleanly");
    let stop_took = stopping.elapsed();

    let mut sent = Sent::default();
    for client in clients {
        let one = client.await.expect("client");
        sent.accepted.extend(one.accepted);
        sent.sent.extend(one.sent);
        for (answer, count) in one.answers {
            *sent.answers.entry(answer).or_default() += count;
        }
    }
    for answer in sent.answers.keys() {
        assert!(
            matches!(answer.as_str(), "202" | "503" | "no answer"),
            "unexpected answer {answer}: {:?}",
            sent.answers
        );
    }
    assert!(
        sent.accepted.len() < CLIENTS * CLICKS_PER_CLIENT,
        "shutdown came while load was in flight: {:?}",
        sent.answers
    );

    // The batch in hand was committed and acknowledged: nothing the worker
    // left pending is already stored (that would be a commit without ack).
    let left_pending = pending_entries(&stream).await;
    let entries = click_ids_by_entry(&stream).await;
    let stored_at_stop: HashSet<String> = stored_ids(&db).await.into_iter().collect();
    assert!(
        !stored_at_stop.is_empty(),
        "the worker was busy when told to stop"
    );
    for (entry, consumer) in &left_pending {
        assert!(consumer.starts_with(CONSUMER), "{consumer}");
        for click_id in &entries[entry] {
            assert!(
                !stored_at_stop.contains(click_id),
                "entry {entry} ({click_id}) was committed but left unacknowledged"
            );
        }
    }

    // A restarted worker (same consumer names) re-reads what was left pending
    // and takes the rest of the stream.
    for lane in 1..=LANES {
        let redis = stream.redis.clone();
        let mut lane = Lane::start(
            LaneOptions {
                names: StreamNames {
                    stream: stream.key.clone(),
                    group: DEFAULT_GROUP.to_owned(),
                    consumer: format!("{CONSUMER}-{lane}"),
                },
                batch_size: 200,
                block: Duration::from_millis(50),
                claim_idle: Duration::from_secs(60),
                max_deliveries: 5,
                retention_days: None,
            },
            redis,
            db.conn.clone(),
            CancellationToken::new(),
        )
        .await
        .expect("restarted worker");
        while lane.process_once().await.expect("step") != Outcome::Idle {}
    }
    // What the worker's aggregator does after its lanes.
    storage::aggregates::fold_all(&db.conn)
        .await
        .expect("fold the aggregates");
    assert!(
        pending_entries(&stream).await.is_empty(),
        "all acknowledged"
    );

    let stored = stored_ids(&db).await;
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a click stored twice");
    for id in &sent.accepted {
        assert!(
            unique.contains(id),
            "{id} was answered 202 but is not stored"
        );
    }
    let sent_ids: HashSet<&String> = sent.sent.iter().collect();
    assert!(unique.iter().all(|id| sent_ids.contains(id)));
    let counted = storage::inspect::daily_total(&db.conn)
        .await
        .expect("sum the daily aggregate");
    assert_eq!(
        counted,
        stored.len() as u64,
        "each stored click counted once"
    );
    eprintln!(
        "graceful shutdown: {} accepted, {} stored, answers {:?}, {} left pending, both stopped in {stop_took:?}",
        sent.accepted.len(),
        stored.len(),
        sent.answers,
        left_pending.len()
    );

    db.drop().await;
    stream.drop().await;
}

/// On shutdown the aggregator folds what the lanes stored since its last
/// fold: deltas stored while it waits out a long interval are in the
/// aggregates once it returns, not left for the next worker.
#[tokio::test]
async fn the_aggregator_folds_what_is_left_when_it_stops() {
    let db = TestDb::create().await;
    let aggregator = worker::aggregator::Aggregator::new(db.conn.clone(), Duration::from_secs(60));
    let stop = aggregator.stopper();
    let running = tokio::spawn(aggregator.run());
    // Its first round finds nothing; it then waits a minute.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let clicks: Vec<domain::StreamClick> = (0..40)
        .map(|n| domain::StreamClick {
            click: testkit::click("stop", n),
            received_at: chrono::Utc::now(),
        })
        .collect();
    let refs: Vec<&domain::StreamClick> = clicks.iter().collect();
    storage::clicks::store_batch(&db.conn, &refs)
        .await
        .expect("store");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        storage::aggregates::pending_deltas(&db.conn)
            .await
            .expect("pending"),
        1,
        "no fold while the aggregator waits"
    );
    stop.cancel();
    tokio::time::timeout(STOP_LIMIT, running)
        .await
        .expect("stops in time")
        .expect("joins");
    assert_eq!(db.daily_mismatches_and_total().await, (0, 40));
    db.drop().await;
}
