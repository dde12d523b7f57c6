//! The full harness run: setup, the selected scenarios in order, the RSS
//! figures, cleanup, and the table.

mod drain;
mod e2e;
mod export;
mod probe;
mod reports;
mod webhooks;

use serde_json::json;

use crate::cli::{RunArgs, Scenario};
use crate::harness::{Harness, note};
use crate::report::{Machine, Row, render};

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let mut harness = Harness::new(args);
    note(format!("run {}", harness.run_id));
    let time_limit = harness.args.time_limit;
    let outcome = tokio::select! {
        result = tokio::time::timeout(time_limit, setup_and_run(&mut harness)) => match result {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("the run took longer than --time-limit {time_limit:?}")),
        },
        signal = runkit::interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    harness.cleanup(outcome.is_err()).await;
    let rows = outcome?;
    print!(
        "{}",
        render(&rows, &Machine::detect(), &harness.run_id, json)
    );
    if !harness.problems.is_empty() {
        anyhow::bail!("the run had problems:\n  {}", harness.problems.join("\n  "));
    }
    Ok(())
}

async fn setup_and_run(h: &mut Harness) -> anyhow::Result<Vec<Row>> {
    h.setup().await?;
    let mut rows = Vec::new();
    for scenario in [
        Scenario::Single,
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
            Err(error) => {
                note(format!("{name} failed: {error:#}"));
                h.problems.push(format!("{name}: {error:#}"));
                rows.push(Row::new(name, "FAILED").notes(format!("{error:#}")));
                // A dead ingest makes every later figure meaningless.
                h.ensure_ingest_running()?;
            }
        }
    }
    rows.extend(rss_rows(h).await);
    Ok(rows)
}

fn name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Single => "single",
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
