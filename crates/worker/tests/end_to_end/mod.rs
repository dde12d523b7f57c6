//! Webhooks in, rows out: ingest and worker together against real Redis and MariaDB.
//!
//! This module starts and stops the worker processes the submodules share.

mod identity;
mod pipeline;
mod schema;

use clap::Parser;
use testkit::{TestDb, TestStream};
use tokio_util::sync::CancellationToken;

use crate::ingest_support::Ingest;

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
            worker::Settings::try_parse_from(stream.worker_args(
                &db.url,
                [
                    format!("--consumer-name={name}"),
                    "--clicks-batch-size=50".to_owned(),
                    "--block-ms=100".to_owned(),
                    // Folds come only from lanes catching up (or shutdown), so
                    // the aggregates settling proves that path.
                    "--aggregates-fold-interval-ms=60000".to_owned(),
                ],
            ))
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
