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
//! stopped. One line per date; `--dry-run` deletes nothing.

use std::process::ExitCode;

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

/// Runs `reporting-api retention`; exit 0 when the run finished.
pub async fn run_cli(settings: &Settings, args: RetentionArgs) -> ExitCode {
    let Some(days) = settings.clicks_retention_days else {
        println!("retention is off: CLICKS_RETENTION_DAYS is not set; nothing deleted");
        return ExitCode::SUCCESS;
    };
    let db = match storage::connect_url(&settings.database_url, "DATABASE_URL", 2).await {
        Ok(db) => db,
        Err(error) => {
            eprintln!("reporting-api retention: {error}");
            return ExitCode::FAILURE;
        }
    };
    let today = Utc::now().date_naive();
    let outcome = apply(&db, days, today, &args).await;
    db.close().await.ok();
    match outcome {
        Ok(report) => {
            for line in &report.lines {
                println!("{line}");
            }
            println!(
                "retention ({days} days; raw clicks before {} may go): {} {} clicks of {} dates, kept {} dates",
                first_retained(today, days),
                if args.dry_run {
                    "would delete"
                } else {
                    "deleted"
                },
                report.deleted_clicks,
                report.deleted_dates.len(),
                report.kept_dates.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("reporting-api retention: {error}; the next run goes on from here");
            ExitCode::FAILURE
        }
    }
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
