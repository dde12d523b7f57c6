//! Fuzz-style: whatever field maps land on the stream, the worker stores the
//! entries the decoder accepts, moves every other one to the dead-letter
//! stream, acknowledges all of them and never stops.

use std::collections::HashMap;
use std::time::Duration;

use clickstream::dead_letter;
use clickstream::{DEFAULT_GROUP, StreamNames};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use testkit::{TestDb, TestStream, click};
use tokio_util::sync::CancellationToken;
use worker::{Lane, LaneOptions, Outcome};

const CASES: u32 = 24;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// An entry: half the time a valid click's fields to start with, then 1 to
/// 5 pairs whose names are the format's or any bytes, each with the value a
/// valid click would have there or any bytes (a later pair overrides).
fn entry() -> impl Strategy<Value = Fields> {
    let pair = (
        0usize..7,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..24),
    );
    (
        any::<u32>(),
        any::<bool>(),
        prop::collection::vec(pair, 1..6),
    )
        .prop_map(|(n, start_valid, pairs)| {
            let valid = domain::StreamClick {
                click: click(&format!("fuzz-{n}"), u64::from(n)),
                received_at: chrono::Utc::now(),
            }
            .encode();
            let start = valid
                .iter()
                .filter(|_| start_valid)
                .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()));
            let added = pairs
                .into_iter()
                .map(|(slot, keep_value, bytes)| match valid.get(slot) {
                    Some((name, value)) if keep_value => {
                        (name.as_bytes().to_vec(), value.as_bytes().to_vec())
                    }
                    Some((name, _)) => (name.as_bytes().to_vec(), bytes),
                    // Slot 6: an unknown field.
                    None => (bytes.clone(), bytes),
                });
            start.chain(added).collect()
        })
}

async fn xadd(stream: &TestStream, fields: &Fields) -> String {
    clickstream::inspect::add_raw(&mut stream.conn().await, &stream.key, fields)
        .await
        .expect("xadd")
}

async fn stored(db: &TestDb, click_id: &str) -> bool {
    !storage::inspect::stored_click_ids(&db.conn, &[click_id.to_owned()])
        .await
        .expect("query")
        .is_empty()
}

/// The dead letters by main-stream ID, with how many original fields each kept;
/// each must say the entry was undecodable.
async fn dead_lettered(stream: &TestStream, names: &StreamNames) -> HashMap<String, usize> {
    let letters = dead_letter::list(&mut stream.conn().await, names, 1000)
        .await
        .expect("dead letters");
    letters
        .into_iter()
        .map(|letter| {
            assert!(
                letter.reason.starts_with("undecodable entry"),
                "{}",
                letter.reason
            );
            (letter.source_id, letter.fields.len())
        })
        .collect()
}

async fn pending(stream: &TestStream) -> usize {
    let names = StreamNames {
        stream: stream.key.clone(),
        group: DEFAULT_GROUP.to_owned(),
        consumer: String::new(),
    };
    clickstream::inspect::pending_count(&mut stream.conn().await, &names)
        .await
        .expect("xpending") as usize
}

async fn check(db: &TestDb, entries: &[Fields]) -> Result<(), TestCaseError> {
    let stream = TestStream::create();
    let mut undecodable = HashMap::new();
    let mut decodable = Vec::new();
    for fields in entries {
        let id = xadd(&stream, fields).await;
        match domain::StreamClick::decode(fields) {
            Ok(entry) => decodable.push(entry.click.click_id),
            Err(_) => {
                undecodable.insert(id, fields.len());
            }
        }
    }
    let names = StreamNames {
        stream: stream.key.clone(),
        group: DEFAULT_GROUP.to_owned(),
        consumer: "fuzz".to_owned(),
    };
    let redis = stream.redis.clone();
    let mut worker = Lane::start(
        LaneOptions {
            names: names.clone(),
            batch_size: 3,
            block: Duration::from_millis(10),
            claim_idle: Duration::from_secs(60),
            max_deliveries: 5,
            retention_days: None,
        },
        redis,
        db.conn.clone(),
        CancellationToken::new(),
    )
    .await
    .expect("worker starts");
    while worker.process_once().await.expect("a step never fails") != Outcome::Idle {}

    let dead = dead_lettered(&stream, &names).await;
    let pending = pending(&stream).await;
    let mut missing = Vec::new();
    for click_id in &decodable {
        if !stored(db, click_id).await {
            missing.push(click_id.clone());
        }
    }
    stream.drop().await;
    prop_assert_eq!(
        dead,
        undecodable,
        "dead letters are exactly the undecodable entries, with all their fields"
    );
    prop_assert!(missing.is_empty(), "decodable but not stored: {missing:?}");
    prop_assert_eq!(pending, 0, "everything acknowledged");
    Ok(())
}

#[test]
fn decodable_entries_are_stored_and_the_rest_dead_lettered() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(TestDb::create());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&prop::collection::vec(entry(), 1..6), |entries| {
        runtime.block_on(check(&db, &entries))
    });
    runtime.block_on(db.drop());
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
