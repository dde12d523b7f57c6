//! `reporting-api retention --metrics-file`: the run's figures in the
//! Prometheus text format, for node_exporter's textfile collector.
//!
//! The job is a cron job that lives for seconds, too short to be scraped
//! and with no pushgateway in this deployment (the export CLI has no
//! metrics either), so it leaves a file describing its last run; the
//! collector serves it with the node's metrics until the next run replaces
//! it. Alert on `retention_last_run_success == 0` and on a
//! `retention_last_run_timestamp_seconds` older than the schedule. The file
//! is written next to its final name and renamed, so the collector never
//! reads half of it (it only reads `*.prom`, so the temporary name is
//! skipped).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Report;

/// When the last run ended, Unix seconds.
pub const LAST_RUN_TIMESTAMP: &str = "retention_last_run_timestamp_seconds";
/// 1 when the last run finished, 0 when it failed.
pub const LAST_RUN_SUCCESS: &str = "retention_last_run_success";
/// How long the last run took.
pub const LAST_RUN_DURATION: &str = "retention_last_run_duration_seconds";
/// 1 when the last run was a `--dry-run`.
pub const LAST_RUN_DRY_RUN: &str = "retention_last_run_dry_run";
/// Raw clicks the last run deleted (would delete, dry run).
pub const LAST_RUN_DELETED_CLICKS: &str = "retention_last_run_deleted_clicks";
/// Dates the last run judged, by `outcome`.
pub const LAST_RUN_DATES: &str = "retention_last_run_dates";
/// 1 when the last run stopped at `--max-clicks` with dates left.
pub const LAST_RUN_STOPPED_EARLY: &str = "retention_last_run_stopped_early";

/// How a run ended, as the metrics file tells it.
pub struct Run<'a> {
    /// The run's report; `None` when it failed (what it did before is in its lines only).
    pub report: Option<&'a Report>,
    pub dry_run: bool,
    pub took: Duration,
    pub ended: SystemTime,
}

/// Writes `run` to `path` (replacing the last run's file at once).
pub fn write(path: &Path, run: &Run) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&temporary, render(run))?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        std::fs::remove_file(&temporary).ok();
    })
}

/// The Prometheus text of `run`.
pub fn render(run: &Run) -> String {
    let ended = run
        .ended
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut text = String::new();
    gauge(
        &mut text,
        LAST_RUN_TIMESTAMP,
        "When the last retention run ended (Unix time).",
        &[(None, ended)],
    );
    gauge(
        &mut text,
        LAST_RUN_SUCCESS,
        "1 when the last retention run finished, 0 when it failed.",
        &[(None, f64::from(u8::from(run.report.is_some())))],
    );
    gauge(
        &mut text,
        LAST_RUN_DURATION,
        "How long the last retention run took.",
        &[(None, run.took.as_secs_f64())],
    );
    gauge(
        &mut text,
        LAST_RUN_DRY_RUN,
        "1 when the last retention run was a dry run (its figures are what it would delete).",
        &[(None, f64::from(u8::from(run.dry_run)))],
    );
    let Some(report) = run.report else {
        return text;
    };
    gauge(
        &mut text,
        LAST_RUN_DELETED_CLICKS,
        "Raw clicks the last retention run deleted.",
        &[(None, report.deleted_clicks as f64)],
    );
    let late = report.late_clicks_dates.len();
    gauge(
        &mut text,
        LAST_RUN_DATES,
        "Dates the last retention run judged, by outcome: deleted (all their raw clicks gone), \
         kept_not_exported (export not completed), kept_clicks_after_export (clicks after the last export).",
        &[
            (Some("deleted"), report.deleted_dates.len() as f64),
            (
                Some("kept_not_exported"),
                (report.kept_dates.len() - late) as f64,
            ),
            (Some("kept_clicks_after_export"), late as f64),
        ],
    );
    gauge(
        &mut text,
        LAST_RUN_STOPPED_EARLY,
        "1 when the last retention run stopped at --max-clicks with dates left.",
        &[(None, f64::from(u8::from(report.stopped_early)))],
    );
    text
}

/// One gauge: `# HELP`, `# TYPE` and a sample per `(outcome, value)`.
fn gauge(text: &mut String, name: &str, help: &str, samples: &[(Option<&str>, f64)]) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} gauge");
    for (outcome, value) in samples {
        match outcome {
            Some(outcome) => {
                let _ = writeln!(text, "{name}{{outcome=\"{outcome}\"}} {value}");
            }
            None => {
                let _ = writeln!(text, "{name} {value}");
            }
        }
    }
}
