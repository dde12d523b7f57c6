//! ingest's collector (`clickstream::enqueue`) as a group commit: while one
//! collection is being written, the requests that arrive wait for its answer
//! and then go to Redis together. A private Redis, paused, stands in for a
//! slow one.

use std::time::Duration;

use clickstream::{Enqueuer, EnqueuerLimits, Entry};
use testkit::{RedisInstance, TestStream};

/// How long the paused Redis holds the first collection.
const PAUSE: Duration = Duration::from_millis(1500);
/// Requests that arrive while it is held, this far apart (all within the pause).
const WAITING: u64 = 20;
const ARRIVAL_GAP: Duration = Duration::from_millis(10);

fn limits(overlap_after: Duration) -> EnqueuerLimits {
    EnqueuerLimits {
        max_pipeline: 2048,
        max_in_flight: 4,
        timeout: Duration::from_secs(10),
        min_replicas: 0,
        replica_timeout: Duration::from_secs(1),
        overlap_after,
        pack_compression: Default::default(),
    }
}

fn entry(layout: &clickstream::Layout, n: u64) -> Entry {
    let click = domain::StreamClick {
        click: testkit::click("collect", n),
        received_at: chrono::Utc::now(),
    };
    Entry::new(layout, &click)
}

#[tokio::test]
async fn requests_that_arrive_during_a_write_go_together_once_it_is_answered() {
    let redis = RedisInstance::start().await;
    let stream = TestStream::create_on(&redis.url());
    let layout = stream.layout(1);
    let conn = stream.conn().await;
    let (enqueuer, _collector) = Enqueuer::start(conn, &layout, limits(Duration::from_secs(30)));

    let mut control = stream.conn().await;
    clickstream::admin::pause_writes(&mut control, PAUSE)
        .await
        .expect("CLIENT PAUSE");
    let first = tokio::spawn({
        let enqueuer = enqueuer.clone();
        let entry = entry(&layout, 0);
        async move { enqueuer.enqueue(vec![entry]).await }
    });
    // The first collection is now held by the paused Redis; the others
    // arrive one by one while it is.
    tokio::time::sleep(PAUSE / 10).await;
    let mut waiting = Vec::new();
    for n in 1..=WAITING {
        let enqueuer = enqueuer.clone();
        let entry = entry(&layout, n);
        waiting.push(tokio::spawn(
            async move { enqueuer.enqueue(vec![entry]).await },
        ));
        tokio::time::sleep(ARRIVAL_GAP).await;
    }
    for answer in waiting {
        answer.await.expect("task").expect("click enqueued");
    }
    first.await.expect("first task").expect("first click");

    let mut conn = stream.conn().await;
    let entries = clickstream::inspect::entries(&mut conn, &layout.streams()[0])
        .await
        .expect("XRANGE");
    let clicks_per_entry: Vec<usize> = entries
        .iter()
        .map(|entry| {
            domain::stream_entry::decode_entry(&entry.fields)
                .expect("decodable entry")
                .len()
        })
        .collect();
    assert_eq!(
        clicks_per_entry,
        vec![1, WAITING as usize],
        "the first click alone, then every click that waited for it in one packed entry"
    );
    stream.drop().await;
}
