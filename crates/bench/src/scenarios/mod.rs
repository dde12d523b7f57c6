//! The full harness run, on each Redis of the plan in turn: setup, the
//! selected scenarios in order, the RSS figures, the replica-ack comparison,
//! cleanup; then the tables and the side-by-side comparison.

mod drain;
mod e2e;
mod export;
mod interleave;
mod probe;
pub mod raw_limit;
mod replica_ack;
mod reports;
mod senders;
mod webhooks;

pub use interleave::INTERLEAVED;

use std::future::Future;

use serde_json::json;
use tokio::time::Instant;

use crate::cli::{RunArgs, Scenario};
use crate::compare::{self, TopologyRun};
use crate::harness::{Harness, note};
use crate::report::{Machine, Row, render};
use crate::topology::{Plan, Topology, start_cluster};

/// Runs the scenarios on each Redis of the plan in turn (standalone first),
/// then prints each run's table and, with two, the comparison; `--repeat`
/// times, the rounds alternating which topology goes first, and then the
/// median comparison.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    let json = args.common.json;
    let deadline = Instant::now() + args.time_limit;
    if let Some(slice) = args.interleave {
        let problems = interleave::run(&args, &plan, slice, deadline).await?;
        return fail_on(problems);
    }
    let mut problems = Vec::new();
    let mut rounds = Vec::with_capacity(args.repeat as usize);
    for round in 0..args.repeat {
        let mut order = plan.topologies.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        if args.repeat > 1 {
            note(format!("round {} of {}", round + 1, args.repeat));
            print!("\n# Round {} of {}\n", round + 1, args.repeat);
        }
        let mut runs = Vec::with_capacity(order.len());
        for topology in order {
            let (run, run_problems) = run_on(&args, &plan, topology, deadline).await?;
            problems.extend(run_problems);
            runs.push(run);
        }
        runs.sort_by_key(|run| run.redis.topology == Topology::Cluster);
        print_round(&runs, json);
        rounds.push(runs);
    }
    if rounds.len() > 1 {
        print!(
            "{}",
            compare::medians(&rounds, compare::Rounds::Repeated, json)
        );
    }
    fail_on(problems)
}

/// Fails the run when it had problems, after the tables are printed.
fn fail_on(problems: Vec<String>) -> anyhow::Result<()> {
    if !problems.is_empty() {
        anyhow::bail!("the run had problems:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// One round's tables, standalone first, and the comparison of the two.
fn print_round(runs: &[TopologyRun], json: bool) {
    let machine = Machine::detect();
    // A standalone-only run prints exactly today's table.
    let titled = runs
        .iter()
        .any(|run| run.redis.topology == Topology::Cluster);
    for run in runs {
        if titled {
            print!(
                "\n## {}\n\nRedis: {}; persistence: {}\n",
                run.redis.topology.name(),
                run.redis.describe(),
                run.persistence
            );
        }
        print!("{}", render(&run.rows, &machine, &run.run_id, json));
    }
    print!("{}", compare::render(runs, json));
}

/// One topology: its Redis (a private cluster is started here and killed
/// at the end), setup, the scenarios, cleanup. Returns the run and its
/// problems, named by its topology.
async fn run_on(
    args: &RunArgs,
    plan: &Plan,
    topology: Topology,
    deadline: Instant,
) -> anyhow::Result<(TopologyRun, Vec<String>)> {
    let limit = args.time_limit;
    let cluster = match topology {
        Topology::Cluster => Some(
            bounded(
                deadline,
                limit,
                start_cluster(args.cluster_persistence, &args.redis_url),
            )
            .await?,
        ),
        Topology::Standalone => None,
    };
    let url = cluster
        .as_ref()
        .map_or_else(|| args.redis_url.clone(), testkit::RedisCluster::url);
    let redis = plan.target(topology, url, args.redis_mode);
    let mut harness = Harness::new(args.clone(), redis.clone());
    note(format!("run {} on {}", harness.run_id, redis.describe()));
    let outcome = bounded(deadline, limit, setup_and_run(&mut harness)).await;
    let persistence = harness.persistence().await;
    harness.cleanup(outcome.is_err()).await;
    // Dropping the cluster kills its six nodes.
    drop(cluster);
    let (rows, replica_acks) = outcome?;
    let run = TopologyRun {
        redis,
        run_id: harness.run_id.clone(),
        rows,
        replica_acks,
        persistence,
    };
    Ok((run, problems_of(&mut harness)))
}

/// The problems `h` recorded, each named by its topology.
fn problems_of(h: &mut Harness) -> Vec<String> {
    let topology = h.redis.topology.name();
    std::mem::take(&mut h.problems)
        .into_iter()
        .map(|problem| format!("{topology}: {problem}"))
        .collect()
}

/// `work`, unless the run's time limit passes or the bench is interrupted first.
async fn bounded<T>(
    deadline: Instant,
    limit: std::time::Duration,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = tokio::time::timeout_at(deadline, work) => match result {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("the run took longer than --time-limit {limit:?}")),
        },
        signal = runkit::interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
    }
}

type Measured = (Vec<Row>, Vec<(u32, Row)>);

async fn setup_and_run(h: &mut Harness) -> anyhow::Result<Measured> {
    h.setup().await?;
    let mut rows = Vec::new();
    for scenario in [
        Scenario::Single,
        Scenario::Senders,
        Scenario::Batch,
        Scenario::Drain,
        Scenario::E2e,
        Scenario::Export,
        Scenario::Reports,
    ] {
        if !h.args.scenarios.contains(&scenario) {
            continue;
        }
        let name = name(scenario);
        note(format!("scenario {name}"));
        let result = match scenario {
            Scenario::Single => webhooks::single(h).await.map(|row| vec![row]),
            Scenario::Senders => senders::run(h).await,
            Scenario::Batch => webhooks::batch(h).await.map(|row| vec![row]),
            Scenario::Drain => drain::run(h).await,
            Scenario::E2e => e2e::run(h).await.map(|row| vec![row]),
            Scenario::Export => export::run(h).await,
            Scenario::Reports => reports::run(h).await,
        };
        match result {
            Ok(new_rows) => {
                for row in &new_rows {
                    note(format!(
                        "{}: {} ({} / {})",
                        row.scenario, row.result, row.p50, row.p99
                    ));
                }
                rows.extend(new_rows);
            }
            Err(error) => failed(h, &mut rows, name, error)?,
        }
    }
    rows.extend(rss_rows(h).await);
    // Last: it restarts ingest, whose peak RSS is already in the table.
    let mut replica_acks = Vec::new();
    if h.args.compare_replica_ack && h.redis.topology == Topology::Cluster {
        match replica_ack::run(h).await {
            Ok(measured) => {
                rows.extend(measured.iter().map(|(_, row)| row.clone()));
                replica_acks = measured;
            }
            Err(error) => failed(h, &mut rows, "replica ack", error)?,
        }
    }
    Ok((rows, replica_acks))
}

/// Records a failed scenario; fails the run when ingest is gone.
fn failed(
    h: &mut Harness,
    rows: &mut Vec<Row>,
    name: &str,
    error: anyhow::Error,
) -> anyhow::Result<()> {
    note(format!("{name} failed: {error:#}"));
    h.problems.push(format!("{name}: {error:#}"));
    rows.push(Row::new(name, "FAILED").notes(format!("{error:#}")));
    // A dead ingest makes every later figure meaningless.
    h.ensure_ingest_running()
}

fn name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Single => "single",
        Scenario::Senders => "senders",
        Scenario::Batch => "batch",
        Scenario::Drain => "drain",
        Scenario::E2e => "e2e",
        Scenario::Export => "export",
        Scenario::Reports => "reports",
    }
}

/// Peak RSS (VmHWM) of ingest and of every worker that ran.
async fn rss_rows(h: &mut Harness) -> Vec<Row> {
    h.stop_workers().await;
    let mut rows = Vec::new();
    if let Some(mb) = h.ingest_peak_rss_mb() {
        rows.push(
            Row::new("rss ingest", format!("{mb:.1} MB"))
                .notes("VmHWM after all scenarios")
                .json(json!({"process": "ingest", "peak_rss_mb": mb})),
        );
    }
    let workers: Vec<(String, f64)> = h
        .stopped_workers
        .iter()
        .filter_map(|w| w.peak_rss_mb.map(|mb| (w.label.clone(), mb)))
        .collect();
    if let Some(max) = workers.iter().map(|(_, mb)| *mb).reduce(f64::max) {
        let each: Vec<String> = workers
            .iter()
            .map(|(label, mb)| format!("{label}: {mb:.1}"))
            .collect();
        rows.push(
            Row::new("rss worker", format!("max {max:.1} MB"))
                .notes(format!("VmHWM when stopped, MB — {}", each.join(", ")))
                .json(json!({
                    "process": "worker",
                    "peak_rss_mb": max,
                    "each": workers.iter().map(|(l, mb)| json!({"worker": l, "peak_rss_mb": mb})).collect::<Vec<_>>(),
                })),
        );
    }
    rows
}
