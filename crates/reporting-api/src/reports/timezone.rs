//! Local days of a time zone, mapped onto the UTC aggregates.
//!
//! A report in UTC (or in any zone whose offset is zero over the whole range)
//! reads `click_daily_stats`. Any other zone reads `click_hourly_stats`: the
//! local day of a UTC hour is `DATE(click_hour + offset)`, where the offset is
//! the zone's offset at that hour — a `CASE` over the (few) offset changes in
//! the range, so daylight saving time is honoured. This is exact only when
//! every offset in the range is a whole number of hours; other zones (India,
//! Nepal, parts of Australia…) are refused for that range.

use chrono::{Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
pub use storage::reports::DaySource;

/// Which UTC hours make up local days `start..=end` in `zone`, or why the
/// zone cannot be reported from hourly aggregates.
pub fn plan(zone: Tz, start: NaiveDate, end: NaiveDate) -> Result<DaySource, String> {
    // Any local day lies within a day either side of the same UTC day.
    let (Some(from), Some(to)) = (
        start.pred_opt().and_then(|d| d.and_hms_opt(0, 0, 0)),
        end.succ_opt()
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
    ) else {
        return Err("The timezone field cannot be used with these dates.".to_owned());
    };
    let mut first_hour = None;
    let mut last_hour = None;
    let mut offsets: Vec<(NaiveDateTime, i32)> = Vec::new();
    // No click lies outside the service's dates: the first and last local
    // days of the range stop there (a `DATETIME` literal beyond year 9999
    // would match nothing at all).
    let stored = domain::MIN_DATE.and_hms_opt(0, 0, 0).unwrap_or(from)
        ..domain::MAX_DATE
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or(to);
    let mut hour = from.max(stored.start);
    let to = to.min(stored.end);
    while hour < to {
        let seconds = zone.offset_from_utc_datetime(&hour).fix().local_minus_utc();
        let local_date = (hour + Duration::seconds(i64::from(seconds))).date();
        if (start..=end).contains(&local_date) {
            if seconds % 3600 != 0 {
                return Err(format!(
                    "The timezone {} has a UTC offset that is not a whole number of hours \
                     between start_date and end_date; reports are kept per UTC hour.",
                    zone.name()
                ));
            }
            let hours = seconds / 3600;
            if offsets.last().is_none_or(|(_, last)| *last != hours) {
                offsets.push((hour, hours));
            }
            first_hour.get_or_insert(hour);
            last_hour = Some(hour);
        }
        hour += Duration::hours(1);
    }
    let (Some(first_hour), Some(last_hour)) = (first_hour, last_hour) else {
        return Err("The timezone field cannot be used with these dates.".to_owned());
    };
    if offsets.iter().all(|(_, offset)| *offset == 0) {
        return Ok(DaySource::UtcDaily);
    }
    Ok(DaySource::Hourly {
        first_hour,
        last_hour,
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("datetime")
    }

    #[test]
    fn utc_and_zero_offset_zones_use_the_daily_table() {
        for zone in [
            chrono_tz::UTC,
            chrono_tz::Etc::GMT,
            chrono_tz::Africa::Abidjan,
        ] {
            assert_eq!(
                plan(zone, day("2024-01-01"), day("2024-12-31")),
                Ok(DaySource::UtcDaily)
            );
        }
    }

    #[test]
    fn new_york_days_follow_daylight_saving_time() {
        let DaySource::Hourly {
            first_hour,
            last_hour,
            offsets,
        } = plan(
            chrono_tz::America::New_York,
            day("2024-03-09"),
            day("2024-03-10"),
        )
        .expect("whole hours")
        else {
            panic!("hourly expected");
        };
        assert_eq!(first_hour, at("2024-03-09 05:00:00"));
        // 10 March has 23 hours: it ends at 04:00 UTC on the 11th.
        assert_eq!(last_hour, at("2024-03-11 03:00:00"));
        assert_eq!(
            offsets,
            [
                (at("2024-03-09 05:00:00"), -5),
                (at("2024-03-10 07:00:00"), -4)
            ]
        );
        let sql = DaySource::hourly_date_sql(&offsets);
        assert_eq!(
            sql,
            "DATE(DATE_ADD(click_hour, INTERVAL CASE WHEN click_hour < '2024-03-10 07:00:00' THEN -5 ELSE -4 END HOUR))"
        );
    }

    #[test]
    fn the_edges_of_the_service_dates_stop_at_what_a_click_can_have() {
        // 9999-12-31 local in UTC-12 runs to 10000-01-01 12:00 UTC; clicks end a day earlier.
        let DaySource::Hourly {
            first_hour,
            last_hour,
            ..
        } = plan(
            chrono_tz::Etc::GMTPlus12,
            day("9999-12-31"),
            day("9999-12-31"),
        )
        .expect("whole hours")
        else {
            panic!("hourly expected");
        };
        assert_eq!(first_hour, at("9999-12-31 12:00:00"));
        assert_eq!(last_hour, at("9999-12-31 23:00:00"));
        // 1000-01-01 local in UTC+14 starts on 0999-12-31 10:00 UTC.
        let source = plan(
            chrono_tz::Etc::GMTMinus14,
            day("1000-01-01"),
            day("1000-01-01"),
        )
        .expect("whole hours");
        let DaySource::Hourly {
            first_hour,
            last_hour,
            ..
        } = &source
        else {
            panic!("hourly expected");
        };
        assert_eq!(*first_hour, at("1000-01-01 00:00:00"));
        assert_eq!(*last_hour, at("1000-01-01 09:00:00"));
        assert_eq!(
            source.utc_dates(day("1000-01-01"), day("1000-01-01")),
            (day("1000-01-01"), day("1000-01-02"))
        );
    }

    #[test]
    fn half_hour_zones_are_refused() {
        let reason = plan(
            chrono_tz::Asia::Kolkata,
            day("2024-01-01"),
            day("2024-01-01"),
        )
        .expect_err("half hour");
        assert!(reason.contains("Asia/Kolkata"));
    }
}
