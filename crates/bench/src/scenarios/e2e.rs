//! Scenario `e2e`: one worker, a steady background load, and probes that
//! measure from the webhook request to the row being visible in MariaDB.

use serde_json::json;

use crate::client::Shape;
use crate::harness::{Harness, note};
use crate::load::{Paced, paced};
use crate::report::Row;
use crate::scenarios::drain::drain_leftovers;
use crate::scenarios::probe::{self, ProbePlan};
use crate::stats::{fmt_latency, fmt_rate};

pub async fn run(h: &mut Harness) -> anyhow::Result<Row> {
    h.stop_workers().await;
    let mut notes = Vec::new();
    let backlog = h.backlog;
    let already_stored = h.db()?.clicks_count().await?;
    h.start_workers(1, "e2e").await?;
    if backlog > 0 {
        note(format!(
            "e2e: storing the {backlog} clicks left in the stream first"
        ));
        drain_leftovers(h, already_stored).await?;
        notes.push(format!("stored a leftover backlog of {backlog} first"));
    }
    let args = &h.args;
    let background = h.senders("e", args.e2e_connections)?;
    let probes = h.senders("p", 1)?;
    let load_plan = Paced {
        shape: Shape::Single,
        rate: args.e2e_rate,
        duration: args.e2e_duration,
    };
    let probe_plan = ProbePlan {
        interval: args.probe_interval,
        poll: args.probe_poll,
        timeout: args.probe_timeout,
        duration: args.e2e_duration,
    };
    let db = h.db()?;
    let (load, probed) = tokio::join!(
        paced(&background, load_plan),
        probe::run(&probes, db, probe_plan)
    );
    let (load, probed) = (load?, probed?);
    h.ensure_running()?;

    let tally = &load.tally;
    let achieved = load.requests_per_second();
    if tally.non_accepted_total() > 0 || tally.errors > 0 || probed.refused > 0 {
        h.problems.push(format!(
            "e2e: non-202 answers or errors: background {}, probes refused {}",
            tally.failures_text(),
            probed.refused
        ));
    }
    if probed.lost > 0 || probed.stored == 0 {
        h.problems.push(format!(
            "e2e: {} of {} probes not stored within {:?}",
            probed.lost, probed.sent, h.args.probe_timeout
        ));
    }
    notes.push(format!(
        "1 worker; background {} of {} req/s for {:.0} s ({} conns, p99 {}, non-202: {})",
        fmt_rate(achieved),
        h.args.e2e_rate,
        h.args.e2e_duration.as_secs_f64(),
        h.args.e2e_connections,
        fmt_latency(tally.latencies.quantile(0.99)),
        tally.failures_text()
    ));
    notes.push(format!(
        "probe every {:?}, DB poll every {:?}; max {}; lost {}",
        h.args.probe_interval,
        h.args.probe_poll,
        fmt_latency(probed.latencies.max()),
        probed.lost
    ));
    Ok(Row::new(
        "e2e",
        format!("{}/{} probes stored", probed.stored, probed.sent),
    )
    .latencies(
        fmt_latency(probed.latencies.quantile(0.50)),
        fmt_latency(probed.latencies.quantile(0.99)),
    )
    .notes(notes.join("; "))
    .json(json!({
        "probes": {
            "sent": probed.sent,
            "stored": probed.stored,
            "lost": probed.lost,
            "refused": probed.refused,
            "latency": probed.latencies.to_json(),
        },
        "background": {
            "target_rate": h.args.e2e_rate,
            "achieved_rate": achieved,
            "tally": tally.to_json(),
        },
    })))
}
