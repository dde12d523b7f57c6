//! `CLICKS_STREAM_SHARDS`: ingest spreads clicks over hash-tagged stream keys,
//! workers cover every shard, and each click is still stored and counted
//! exactly once; dead letters stay on their shard and replay from there.
//!
//! This module holds the helpers the submodules share: the worker's and
//! ingest's sharded settings and clicks routed to a chosen shard.

mod failover;
mod flow;
mod resharding;

use clap::Parser;
use serde_json::{Value, json};
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support::Ingest;

const SHARDS: u32 = 4;

fn worker_settings(db: &TestDb, stream: &TestStream, name: &str) -> worker::Settings {
    worker::Settings::try_parse_from(stream.worker_args(
        &db.url,
        [
            format!("--clicks-stream-shards={SHARDS}"),
            format!("--consumer-name={name}"),
            "--concurrency=1".to_owned(),
            "--clicks-batch-size=40".to_owned(),
            "--block-ms=50".to_owned(),
        ],
    ))
    .expect("worker settings")
}

/// The offer ids `0..` whose clicks route to `shard` of [`SHARDS`].
fn offers_of_shard(shard: usize) -> impl Iterator<Item = u64> {
    (1u64..).filter(move |offer| clickstream::layout::shard_of(*offer, SHARDS as usize) == shard)
}

fn routed_click(id: &str, offer_id: u64) -> Value {
    json!({
        "click_id": id,
        "offer_id": offer_id,
        "source": "failover",
        "timestamp": "2025-07-01T10:00:00+00:00",
        "signature": "sig",
    })
}

/// Ingest on `stream` split into [`SHARDS`] shards, with `extra` flags.
async fn sharded_ingest(stream: &TestStream, extra: &[&str]) -> Ingest {
    let shards_flag = format!("--clicks-stream-shards={SHARDS}");
    let mut flags = vec!["--http-workers=2", shards_flag.as_str()];
    flags.extend_from_slice(extra);
    Ingest::start(&stream.redis_url, &stream.key, &flags).await
}

/// Posts one click of `offer_id`: its status and whether it carried `Retry-After`.
async fn post_routed(ingest: &Ingest, id: &str, offer_id: u64) -> (u16, bool) {
    let body = serde_json::to_vec(&routed_click(id, offer_id)).expect("json");
    let response = ingest.post_signed("/api/webhook/clicks", body).await;
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

/// One worker process on `stream`'s shards.
async fn sharded_worker(
    db: &TestDb,
    stream: &TestStream,
    name: &str,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let app = worker::Application::build(worker_settings(db, stream, name), shutdown.clone())
        .await
        .expect("worker");
    tokio::spawn(app.run_until_stopped())
}
