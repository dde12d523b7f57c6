//! `clicks-bench load`: load only, against an ingest that is already running.

use std::sync::Arc;

use crate::cli::{LoadArgs, LoadMode};
use crate::client::Shape;
use crate::conn::Target;
use crate::load::{ClosedLoop, Paced, Senders, closed_loop, paced};
use crate::payload::new_run_id;
use crate::report::{Machine, render};
use crate::rows::load_row;

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let key = args
        .key
        .split(',')
        .map(str::trim)
        .next()
        .unwrap_or_default();
    anyhow::ensure!(
        !key.is_empty(),
        "--key (or WEBHOOK_SECRET_KEY) must not be empty"
    );
    let target = Arc::new(Target::from_url(&args.url, key)?);
    let run_id = new_run_id();
    let shape = match args.mode {
        LoadMode::Single => Shape::Single,
        LoadMode::Batch => Shape::Batch(args.batch_size),
    };
    let senders = Senders {
        target,
        run_id: run_id.clone(),
        tag: "l".to_owned(),
        connections: args.concurrency,
        request_timeout: args.common.request_timeout,
        ids: Default::default(),
    };
    eprintln!(
        "clicks-bench: load run {run_id} → {} ({:?}, {} connections)",
        args.url, args.mode, args.concurrency
    );
    let (outcome, setup) = match args.rate {
        Some(rate) => {
            let plan = Paced {
                shape,
                rate,
                duration: args.duration,
            };
            let setup = format!("{rate} req/s paced, {} conns", args.concurrency);
            (paced(&senders, plan).await?, setup)
        }
        None => {
            let plan = ClosedLoop {
                shape,
                max_requests: args.requests,
                warmup: args.warmup,
                duration: args.duration,
            };
            (
                closed_loop(&senders, plan).await?,
                format!("{} conns", args.concurrency),
            )
        }
    };
    let name = match args.mode {
        LoadMode::Single => "load single",
        LoadMode::Batch => "load batch",
    };
    let rows = vec![load_row(name, &outcome, shape, &setup)];
    print!(
        "{}",
        render(&rows, &Machine::detect(), &run_id, args.common.json)
    );
    let tally = &outcome.tally;
    eprintln!(
        "clicks-bench: {} clicks accepted in all (warm-up included)",
        tally.accepted_clicks
    );
    anyhow::ensure!(
        tally.non_accepted_total() == 0 && tally.errors == 0,
        "not every request was answered with 202: {}",
        tally.failures_text()
    );
    Ok(())
}
