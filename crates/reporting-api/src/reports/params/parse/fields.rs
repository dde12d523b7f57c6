//! The query fields both reports share: the scope (dates, filters and time
//! zone) and optional integers.

use chrono::NaiveDate;
use domain::FieldErrors;

use super::RawQuery;
use crate::ReportSettings;
use crate::reports::params::{MAX_OFFER_ID, MAX_SOURCE_CHARS, Scope};
use crate::reports::timezone;

/// Dates, filters and time zone; `None` when any of them is invalid.
pub(super) fn scope(
    raw: &RawQuery,
    settings: &ReportSettings,
    errors: &mut FieldErrors,
) -> Option<Scope> {
    let start_date = date(raw, "start_date", errors);
    let end_date = date(raw, "end_date", errors);
    let mut dates_ok = false;
    if let (Some(start), Some(end)) = (start_date, end_date) {
        let days = (end - start).num_days() + 1;
        if end < start {
            errors.add(
                "end_date",
                "The end_date must be a date after or equal to start_date.",
            );
        } else if days > i64::from(settings.report_max_range_days) {
            errors.add(
                "end_date",
                format!(
                    "The date range must not be longer than {} days.",
                    settings.report_max_range_days
                ),
            );
        } else {
            dates_ok = true;
        }
    }

    let offer_id = match raw.get("offer_id") {
        None => Some(None),
        Some(value) => match parse_integer(value) {
            None => {
                errors.add("offer_id", "The offer_id field must be an integer.");
                None
            }
            Some(id) if id < 1 => {
                errors.add("offer_id", "The offer_id field must be at least 1.");
                None
            }
            Some(id) if id > i128::from(MAX_OFFER_ID) => {
                errors.add(
                    "offer_id",
                    format!("The offer_id field must not be greater than {MAX_OFFER_ID}."),
                );
                None
            }
            Some(id) => u64::try_from(id).ok().map(Some),
        },
    };

    let source = match raw.get("source") {
        None => Some(None),
        Some(value) if value.chars().count() > MAX_SOURCE_CHARS => {
            errors.add(
                "source",
                format!("The source field must not be greater than {MAX_SOURCE_CHARS} characters."),
            );
            None
        }
        Some(value) => Some(Some(value.to_owned())),
    };

    let timezone_name = raw.get("timezone").unwrap_or("UTC");
    let zone = match timezone_name.parse::<chrono_tz::Tz>() {
        Ok(zone) => Some(zone),
        Err(_) => {
            errors.add("timezone", "The timezone field must be a valid time zone.");
            None
        }
    };
    let days = match (zone, start_date, end_date) {
        (Some(zone), Some(start), Some(end)) if dates_ok => {
            match timezone::plan(zone, start, end) {
                Ok(days) => Some(days),
                Err(reason) => {
                    errors.add("timezone", reason);
                    None
                }
            }
        }
        _ => None,
    };

    Some(Scope {
        start_date: start_date?,
        end_date: end_date?,
        offer_id: offer_id?,
        source: source?,
        timezone: timezone_name.to_owned(),
        days: days?,
        restriction: None,
    })
}

fn date(raw: &RawQuery, field: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    match raw.get(field) {
        None => {
            errors.add(field, format!("The {field} field is required."));
            None
        }
        Some(value) => {
            // Exactly YYYY-MM-DD: chrono alone would accept `2024-1-5`.
            let shaped = value.len() == 10
                && value.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(date) if shaped && !(domain::MIN_DATE..=domain::MAX_DATE).contains(&date) => {
                    errors.add(
                        field,
                        format!(
                            "The {field} field must be a date between {} and {}.",
                            domain::MIN_DATE,
                            domain::MAX_DATE
                        ),
                    );
                    None
                }
                Ok(date) if shaped => Some(date),
                _ => {
                    errors.add(
                        field,
                        format!("The {field} field must match the format Y-m-d."),
                    );
                    None
                }
            }
        }
    }
}

/// An optional non-negative integer field; `default` when absent.
pub(super) fn integer(
    raw: &RawQuery,
    field: &str,
    errors: &mut FieldErrors,
    default: u64,
) -> Option<u64> {
    match raw.get(field) {
        None => Some(default),
        Some(value) => match parse_integer(value) {
            Some(n) => Some(u64::try_from(n.max(0)).unwrap_or(u64::MAX)),
            None => {
                errors.add(field, format!("The {field} field must be an integer."));
                None
            }
        },
    }
}

/// Laravel's `integer`: optional minus sign and digits. Out-of-range values
/// saturate so that they get a range reason rather than a type reason.
fn parse_integer(value: &str) -> Option<i128> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i128>().unwrap_or(i128::MAX / 2);
    Some(if value.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}
