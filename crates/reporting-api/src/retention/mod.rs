//! `reporting-api retention` (for cron): deletes the raw clicks of old dates
//! once Finance has them; the aggregates stay, so reports do not change.
//!
//! With `CLICKS_RETENTION_DAYS` = N, ingest refuses clicks more than N days
//! old (UTC dates), the worker stores one day more, and this job deletes the
//! dates before that (`domain::retention_first_kept` minus one day): a date
//! is never deleted while a click of it can still be stored, so `click_id`
//! stays exactly-once. A date whose export did not complete, or that
//! received clicks after its last export, is kept and named. Deletion runs
//! in short batches (`storage::retention`); a killed run resumes where it
//! stopped. One line per date; `--dry-run` deletes nothing;
//! `--metrics-file` leaves the run's figures for Prometheus ([`metrics`]).

pub mod metrics;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use chrono::{Days, NaiveDate, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use storage::retention::{self, Verdict};

use crate::Settings;
use crate::export::record::COMPLETED;

/// `reporting-api retention` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Clicks deleted per statement (each its own short transaction).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: u64,
    /// Stop after deleting this many clicks; the next run goes on from there.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_clicks: Option<u64>,
    /// Write the run's figures here in the Prometheus text format (a
    /// `.prom` file in node_exporter's textfile directory), replacing the
    /// last run's, also when the run fails.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// One line per date looked at.
    pub lines: Vec<String>,
    pub deleted_clicks: u64,
    /// Dates whose raw clicks are all gone now (or would be, dry run).
    pub deleted_dates: Vec<NaiveDate>,
    pub kept_dates: Vec<NaiveDate>,
    /// Those of `kept_dates` kept for clicks after their export (the
    /// others' export has not completed).
    pub late_clicks_dates: Vec<NaiveDate>,
    /// `--max-clicks` was reached before every date was done.
    pub stopped_early: bool,
}

/// The first date retention keeps raw clicks of, on `today`.
pub fn first_retained(today: NaiveDate, days: u32) -> NaiveDate {
    let first_kept = domain::click::retention_first_kept(today, days);
    first_kept
        .checked_sub_days(Days::new(1))
        .unwrap_or(first_kept)
}

/// Applies retention of `days` on `today` to `db`.
pub async fn apply(
    db: &DatabaseConnection,
    days: u32,
    today: NaiveDate,
    args: &RetentionArgs,
) -> Result<Report, DbErr> {
    let mut report = Report::default();
    let before = first_retained(today, days);
    for date in retention::dates_before(db, before).await? {
        let clicks = retention::clicks_of(db, date).await?;
        let line = match retention::judge(db, date, COMPLETED).await? {
            Verdict::KeptNotExported => {
                report.kept_dates.push(date);
                format!("{date}: kept, {clicks} clicks: its export to Finance has not completed")
            }
            Verdict::KeptClicksAfterExport(late) => {
                report.kept_dates.push(date);
                report.late_clicks_dates.push(date);
                format!(
                    "{date}: kept, {clicks} clicks: {late} arrived after its last export \
                     (export the date again, then retention can delete it)"
                )
            }
            Verdict::Delete if args.dry_run => {
                report.deleted_dates.push(date);
                report.deleted_clicks += clicks;
                format!("{date}: would delete {clicks} clicks (dry run)")
            }
            Verdict::Delete => {
                let deleted = delete_date(db, date, args, &mut report).await?;
                if report.stopped_early {
                    report.lines.push(format!(
                        "{date}: deleted {deleted} of {clicks} clicks; stopped at --max-clicks, \
                         the next run goes on"
                    ));
                    break;
                }
                report.deleted_dates.push(date);
                format!("{date}: deleted {deleted} clicks")
            }
        };
        tracing::info!(%date, "{line}");
        report.lines.push(line);
    }
    Ok(report)
}

/// Deletes the date's clicks batch by batch, within `--max-clicks`.
async fn delete_date(
    db: &DatabaseConnection,
    date: NaiveDate,
    args: &RetentionArgs,
    report: &mut Report,
) -> Result<u64, DbErr> {
    let mut deleted = 0;
    loop {
        let budget = args.max_clicks.map_or(args.batch_size, |max| {
            max.saturating_sub(report.deleted_clicks)
                .min(args.batch_size)
        });
        if budget == 0 {
            report.stopped_early = true;
            return Ok(deleted);
        }
        let gone = retention::delete_batch(db, date, budget).await?;
        deleted += gone;
        report.deleted_clicks += gone;
        if gone < budget {
            return Ok(deleted);
        }
    }
}

/// Runs `reporting-api retention`; exit 0 when the run finished (and its
/// metrics file, if asked for, was written).
pub async fn run_cli(settings: &Settings, args: RetentionArgs) -> ExitCode {
    let Some(days) = settings.clicks_retention_days else {
        println!("retention is off: CLICKS_RETENTION_DAYS is not set; nothing deleted");
        return ExitCode::SUCCESS;
    };
    let started = Instant::now();
    let today = Utc::now().date_naive();
    let outcome = run(settings, days, today, &args).await;
    match &outcome {
        Ok(report) => print_summary(report, days, today, args.dry_run),
        Err(error) => eprintln!("reporting-api retention: {error}; the next run goes on from here"),
    }
    let written = args.metrics_file.as_deref().map(|path| {
        let run = metrics::Run {
            report: outcome.as_ref().ok(),
            dry_run: args.dry_run,
            took: started.elapsed(),
            ended: SystemTime::now(),
        };
        metrics::write(path, &run).inspect_err(|error| {
            eprintln!(
                "reporting-api retention: cannot write --metrics-file {}: {error}",
                path.display()
            );
        })
    });
    if outcome.is_ok() && !matches!(written, Some(Err(_))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Connects to the primary and applies retention; errors as one line's text.
async fn run(
    settings: &Settings,
    days: u32,
    today: NaiveDate,
    args: &RetentionArgs,
) -> Result<Report, String> {
    let db = storage::connect_url(&settings.database_url, "DATABASE_URL", 2)
        .await
        .map_err(|error| error.to_string())?;
    let outcome = apply(&db, days, today, args).await;
    db.close().await.ok();
    outcome.map_err(|error| error.to_string())
}

/// The run's lines and its one summary line, on stdout (cron mails them).
fn print_summary(report: &Report, days: u32, today: NaiveDate, dry_run: bool) {
    for line in &report.lines {
        println!("{line}");
    }
    println!(
        "retention ({days} days; raw clicks before {} may go): {} {} clicks of {} dates, kept {} dates",
        first_retained(today, days),
        if dry_run { "would delete" } else { "deleted" },
        report.deleted_clicks,
        report.deleted_dates.len(),
        report.kept_dates.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_deletes_only_before_the_day_the_worker_still_stores() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).expect("date");
        // Ingest keeps 2026-10-29 on (30 days), the worker also stores the
        // 28th, so the job deletes up to the 27th.
        assert_eq!(
            domain::click::retention_first_kept(today, 30),
            NaiveDate::from_ymd_opt(2026, 10, 29).expect("date")
        );
        assert_eq!(
            first_retained(today, 30),
            NaiveDate::from_ymd_opt(2026, 10, 28).expect("date")
        );
    }
}
