//! `clicks-bench`: the performance figures of the clicks pipeline.
//!
//! By default it starts the release binaries (`ingest`, `worker`, `migrate`)
//! as child processes against the local Redis and MariaDB, runs the scenarios
//! and prints a Markdown table. `--redis cluster` runs them against a private
//! Redis Cluster it starts for the run, `--redis both` against standalone and
//! then the cluster, printed side by side. `clicks-bench load` only sends load to an
//! ingest that is already running. Only loopback addresses are ever used.

mod cli;
mod client;
mod compare;
mod cpu;
mod db;
mod harness;
mod load;
mod load_cmd;
mod payload;
mod report;
mod rows;
mod scenarios;
#[cfg(test)]
mod standin_tests;
mod stats;
mod stream;
mod topology;

use clap::Parser;
use runkit::{conn, interrupted, procs};

use crate::cli::{Cli, Command, CommonArgs};

fn main() -> std::process::ExitCode {
    // `load` runs next to `make run`, whose key may live in `.env`. The full
    // harness never reads `.env`: its children must not inherit stray settings.
    if std::env::args().nth(1).as_deref() == Some("load") {
        let _ = dotenvy::dotenv();
    }
    let cli = Cli::parse();
    let common = match &cli.command {
        Some(Command::Load(args)) => args.common.clone(),
        None => cli.run.common.clone(),
    };
    let runtime = match build_runtime(&common) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("clicks-bench: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Load(args)) => {
                tokio::select! {
                    result = load_cmd::run(args) => result,
                    signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
                }
            }
            None => scenarios::run(cli.run).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clicks-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The load generator shares the cores with the servers: one thread by default.
fn build_runtime(common: &CommonArgs) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if common.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(common.client_threads as usize);
        builder
    };
    Ok(builder.enable_all().build()?)
}
