//! Where a report's days come from: the daily aggregates when local days
//! are UTC days, else the hourly ones, with the zone's offset per hour.

use chrono::{NaiveDate, NaiveDateTime};

/// Where the days of a report come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaySource {
    /// `click_daily_stats`; local days are UTC days.
    UtcDaily,
    /// `click_hourly_stats`, hours `first_hour..=last_hour` (UTC).
    Hourly {
        first_hour: NaiveDateTime,
        last_hour: NaiveDateTime,
        /// From each UTC hour on (in order), the zone's offset in whole hours.
        offsets: Vec<(NaiveDateTime, i32)>,
    },
}

impl DaySource {
    /// The UTC dates whose clicks can land in the report: the report's dates,
    /// one more on each side for a zone other than UTC, within the dates a
    /// click can have.
    pub fn utc_dates(&self, start: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            Self::UtcDaily => (start, end),
            Self::Hourly { .. } => (
                start.pred_opt().unwrap_or(start).max(domain::MIN_DATE),
                end.succ_opt().unwrap_or(end).min(domain::MAX_DATE),
            ),
        }
    }

    /// The first and last UTC hour of local days `start..=end`.
    pub fn utc_hours(&self, start: NaiveDate, end: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
        match self {
            Self::UtcDaily => (
                start.and_time(chrono::NaiveTime::MIN),
                end.and_hms_opt(23, 0, 0)
                    .unwrap_or_else(|| end.and_time(chrono::NaiveTime::MIN)),
            ),
            Self::Hourly {
                first_hour,
                last_hour,
                ..
            } => (*first_hour, *last_hour),
        }
    }

    /// SQL of the local date of a `click_hourly_stats` row. Only literals we
    /// formatted ourselves go into it.
    pub fn hourly_date_sql(offsets: &[(NaiveDateTime, i32)]) -> String {
        let offset = match offsets {
            [] => "0".to_owned(),
            [(_, only)] => only.to_string(),
            [(_, first), rest @ ..] => {
                // Hour `h` has the offset of the last change at or before it.
                let mut case = String::from("CASE");
                let mut previous = *first;
                for (from, offset) in rest {
                    case.push_str(&format!(
                        " WHEN click_hour < '{}' THEN {previous}",
                        from.format("%Y-%m-%d %H:%M:%S")
                    ));
                    previous = *offset;
                }
                case.push_str(&format!(" ELSE {previous} END"));
                case
            }
        };
        format!("DATE(DATE_ADD(click_hour, INTERVAL {offset} HOUR))")
    }
}
