//! `reporting-api export` (for cron): one date (default yesterday, UTC) or a
//! range; a progress bar on a terminal, one summary line per date always;
//! exit status 0 only when every date was delivered completely.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use super::ExportArgs;
use super::exporter::{ExportError, Exporter, ProgressFn};
use crate::Settings;

/// Longest range one run exports.
const MAX_DATES: u64 = 366;
/// MySQL connections of the exporter: one at a time is all it uses.
const DB_CONNECTIONS: u32 = 2;

/// How the run ended, and the exit status that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every date delivered completely.
    Delivered = 0,
    /// A date failed (Finance, the database) or was left incomplete.
    Failed = 1,
    /// Unusable arguments or settings.
    Usage = 2,
    /// Another exporter was working on a date (and nothing else failed).
    Busy = 3,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

pub async fn run(settings: Settings, args: ExportArgs) -> ExitCode {
    export_dates(&settings, &args).await.into()
}

/// The dates named by the flags, oldest first.
pub fn dates(args: &ExportArgs, today: NaiveDate) -> Result<Vec<NaiveDate>, String> {
    let parse = |flag: &str, text: &str| {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| format!("--{flag} {text:?} is not a date (YYYY-MM-DD)"))
    };
    let (first, last) = match (&args.date, &args.from, &args.to) {
        (Some(date), _, _) => {
            let date = parse("date", date)?;
            (date, date)
        }
        (None, Some(from), Some(to)) => (parse("from", from)?, parse("to", to)?),
        _ => {
            let yesterday = today.checked_sub_days(Days::new(1)).ok_or("no yesterday")?;
            (yesterday, yesterday)
        }
    };
    if first > last {
        return Err(format!("--from {first} is after --to {last}"));
    }
    if last > today {
        return Err(format!("{last} is in the future (today is {today}, UTC)"));
    }
    let count = (last - first).num_days() as u64 + 1;
    if count > MAX_DATES {
        return Err(format!("{count} dates: at most {MAX_DATES} in one run"));
    }
    Ok(first.iter_days().take(count as usize).collect())
}

/// Exports every date of `args` in turn; see [`ExitStatus`].
pub async fn export_dates(settings: &Settings, args: &ExportArgs) -> ExitStatus {
    let dates = match dates(args, Utc::now().date_naive()) {
        Ok(dates) => dates,
        Err(reason) => {
            eprintln!("reporting-api export: {reason}");
            return ExitStatus::Usage;
        }
    };
    let db =
        match storage::connect_url(&settings.database_url, "DATABASE_URL", DB_CONNECTIONS).await {
            Ok(db) => db,
            Err(error) => {
                eprintln!("reporting-api export: {error}");
                return ExitStatus::Failed;
            }
        };
    let exporter = match Exporter::new(db.clone(), &settings.finance) {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("reporting-api export: cannot set up the Finance client: {error:#}");
            return ExitStatus::Usage;
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let mut status = ExitStatus::Delivered;
    for date in dates {
        let bar = terminal.then(|| progress_bar(date));
        let progress: Option<ProgressFn> = bar.clone().map(|bar| {
            Arc::new(move |sent: u64, total: u64| {
                bar.set_length(total.max(sent));
                bar.set_position(sent);
            }) as ProgressFn
        });
        let outcome = exporter.export_date(date, progress).await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let (line, date_status) = summary(date, &outcome);
        println!("{line}");
        status = match (status, date_status) {
            (ExitStatus::Failed, _) | (_, ExitStatus::Failed) => ExitStatus::Failed,
            (ExitStatus::Busy, _) | (_, ExitStatus::Busy) => ExitStatus::Busy,
            _ => date_status,
        };
    }
    db.close().await.ok();
    status
}

fn summary(
    date: NaiveDate,
    outcome: &Result<super::Delivered, ExportError>,
) -> (String, ExitStatus) {
    match outcome {
        Ok(done) if done.undelivered() == 0 => (
            format!(
                "{date}: completed: {} clicks sent now, {} of {} delivered",
                done.sent_now, done.clicks_sent, done.total_clicks
            ),
            ExitStatus::Delivered,
        ),
        Ok(done) => (
            format!(
                "{date}: incomplete: {} clicks sent now, {} of {} delivered \
                 (clicks still arriving for the date; run again)",
                done.sent_now, done.clicks_sent, done.total_clicks
            ),
            ExitStatus::Failed,
        ),
        Err(ExportError::AlreadyRunning) => (
            format!("{date}: skipped: another export of this date is running"),
            ExitStatus::Busy,
        ),
        Err(ExportError::Finance {
            message,
            clicks_sent,
        }) => (
            format!("{date}: failed: {message} ({clicks_sent} clicks delivered so far)"),
            ExitStatus::Failed,
        ),
        Err(error) => (format!("{date}: failed: {error}"), ExitStatus::Failed),
    }
}

fn progress_bar(date: NaiveDate) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} clicks ({per_sec}, {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(date.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(date: Option<&str>, from: Option<&str>, to: Option<&str>) -> ExportArgs {
        ExportArgs {
            date: date.map(str::to_owned),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn dates_default_to_yesterday_and_ranges_are_inclusive() {
        let today = day("2025-06-12");
        assert_eq!(
            dates(&args(None, None, None), today),
            Ok(vec![day("2025-06-11")])
        );
        assert_eq!(
            dates(&args(Some("2025-06-01"), None, None), today),
            Ok(vec![day("2025-06-01")])
        );
        assert_eq!(
            dates(&args(None, Some("2025-05-30"), Some("2025-06-02")), today),
            Ok(vec![
                day("2025-05-30"),
                day("2025-05-31"),
                day("2025-06-01"),
                day("2025-06-02")
            ])
        );
        assert!(dates(&args(None, Some("2025-06-02"), Some("2025-06-01")), today).is_err());
        assert!(dates(&args(Some("2025-06-13"), None, None), today).is_err());
        assert!(dates(&args(Some("June"), None, None), today).is_err());
        assert!(dates(&args(None, Some("2020-01-01"), Some("2025-06-01")), today).is_err());
    }
}
