//! `clicks-chaos`: the promise of the service under faults. Every click
//! answered 2xx must be stored exactly once and counted once, whatever fails.
//!
//! It starts a private Redis and MariaDB on ports of their own, then for each
//! scenario the real `ingest` and `worker` binaries as separate processes,
//! sends signed clicks (unique ones and deliberate duplicates), injects the
//! scenario's faults — `kill -9`, outages, a misbehaving TCP proxy, poison
//! entries, a duplicate storm, a soak, and on a private Redis Cluster of the
//! scenario's own the loss of masters and replicas — and sets what MariaDB
//! holds against what was answered 2xx. It prints a Markdown table and exits non-zero when
//! a click was lost or counted twice. Only 127.0.0.1 is ever used.

mod cli;
mod clicks;
mod cluster;
mod ledger;
mod load;
mod proxy;
mod queue;
mod redis_cluster;
mod report;
mod scenarios;
mod verify;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("clicks-chaos: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        tokio::select! {
            result = scenarios::run(cli) => result,
            signal = runkit::interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
        }
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("clicks-chaos: a scenario failed (see the table above)");
            std::process::ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("clicks-chaos: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
