//! The report endpoints' query strings, parsed by hand: every invalid field
//! gets its own reason in `details`.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::FieldErrors;

use super::{
    AggregatedParams, DEFAULT_LIMIT, Dimension, Direction, Format, GroupBy, Interval,
    MAX_HOURLY_DAYS, MAX_LIMIT, MAX_OFFER_ID, MAX_PAGE, MAX_SOURCE_CHARS, Scope, SortKey,
    SummaryParams,
};
use crate::ReportSettings;
use crate::reports::timezone;

/// The dimension a request names, if any.
fn dimension(name: &str) -> Option<Dimension> {
    Dimension::ALL.into_iter().find(|d| d.name() == name)
}

/// The query string as a map; a repeated name keeps its last value (as PHP
/// did) and an empty value counts as absent (Laravel's empty-to-null).
pub struct RawQuery(HashMap<String, String>);

impl RawQuery {
    pub fn parse(query: &str) -> Result<Self, FieldErrors> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| FieldErrors::single("query", "The query string is malformed."))?;
        Ok(Self(
            pairs
                .into_iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .collect(),
        ))
    }

    /// The value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|value| value.trim())
    }
}

pub fn aggregated(
    raw: &RawQuery,
    settings: &ReportSettings,
    accepts_csv: bool,
) -> Result<AggregatedParams, FieldErrors> {
    let mut errors = FieldErrors::new();
    let scope = scope(raw, settings, &mut errors);

    let group_by = match raw.get("group_by") {
        None => Some(GroupBy::all()),
        Some(list) => {
            let parsed: Option<Vec<Dimension>> =
                list.split(',').map(|item| dimension(item.trim())).collect();
            match parsed {
                Some(mut dims) => {
                    dims.sort_unstable();
                    dims.dedup();
                    Some(GroupBy(dims))
                }
                None => {
                    errors.add("group_by", "The selected group_by is invalid.");
                    None
                }
            }
        }
    };

    let sort_by = match raw.get("sort_by") {
        None | Some("clicks_count") => Some(SortKey::ClicksCount),
        Some(name) => match dimension(name) {
            Some(dimension) => Some(SortKey::Dimension(dimension)),
            None => {
                errors.add("sort_by", "The selected sort_by is invalid.");
                None
            }
        },
    };
    if let (Some(SortKey::Dimension(dimension)), Some(group_by)) = (sort_by, &group_by)
        && !group_by.contains(dimension)
    {
        errors.add(
            "sort_by",
            "The sort_by field must be clicks_count or one of the group_by fields.",
        );
    }

    let direction = match raw.get("sort_direction") {
        None | Some("desc") => Some(Direction::Desc),
        Some("asc") => Some(Direction::Asc),
        Some(_) => {
            errors.add("sort_direction", "The selected sort_direction is invalid.");
            None
        }
    };

    let limit = integer(raw, "limit", &mut errors, DEFAULT_LIMIT).and_then(|limit| {
        if (1..=MAX_LIMIT).contains(&limit) {
            Some(limit)
        } else {
            errors.add(
                "limit",
                format!("The limit field must be between 1 and {MAX_LIMIT}."),
            );
            None
        }
    });
    let page = integer(raw, "page", &mut errors, 1).and_then(|page| {
        if page < 1 {
            errors.add("page", "The page field must be at least 1.");
            None
        } else if page > MAX_PAGE {
            errors.add(
                "page",
                format!("The page field must not be greater than {MAX_PAGE}."),
            );
            None
        } else {
            Some(page)
        }
    });

    let format = match raw.get("format") {
        None if accepts_csv => Some(Format::Csv),
        None | Some("json") => Some(Format::Json),
        Some("csv") => Some(Format::Csv),
        Some(_) => {
            errors.add("format", "The selected format is invalid.");
            None
        }
    };

    match (scope, group_by, sort_by, direction, limit, page, format) {
        (
            Some(scope),
            Some(group_by),
            Some(sort_by),
            Some(direction),
            Some(limit),
            Some(page),
            Some(format),
        ) if errors.is_empty() => Ok(AggregatedParams {
            scope,
            group_by,
            sort_by,
            direction,
            limit,
            page,
            format,
            paged: raw.get("limit").is_some() || raw.get("page").is_some(),
        }),
        _ => Err(errors),
    }
}

pub fn summary(raw: &RawQuery, settings: &ReportSettings) -> Result<SummaryParams, FieldErrors> {
    let mut errors = FieldErrors::new();
    let scope = scope(raw, settings, &mut errors);
    let interval = match raw.get("interval") {
        None | Some("day") => Some(Interval::Day),
        Some("hour") => Some(Interval::Hour),
        Some(_) => {
            errors.add("interval", "The selected interval is invalid.");
            None
        }
    };
    if let (Some(Interval::Hour), Some(scope)) = (interval, &scope)
        && (scope.end_date - scope.start_date).num_days() >= MAX_HOURLY_DAYS
    {
        errors.add(
            "interval",
            format!("The interval hour allows at most {MAX_HOURLY_DAYS} days."),
        );
    }
    match (scope, interval) {
        (Some(scope), Some(interval)) if errors.is_empty() => Ok(SummaryParams {
            scope,
            hourly: interval == Interval::Hour,
        }),
        _ => Err(errors),
    }
}

/// Dates, filters and time zone; `None` when any of them is invalid.
fn scope(raw: &RawQuery, settings: &ReportSettings, errors: &mut FieldErrors) -> Option<Scope> {
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
fn integer(raw: &RawQuery, field: &str, errors: &mut FieldErrors, default: u64) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReportSettings {
        ReportSettings {
            report_max_range_days: 366,
            report_cache_ttl_secs: 600,
        }
    }

    fn parse(query: &str) -> Result<AggregatedParams, FieldErrors> {
        aggregated(&RawQuery::parse(query).expect("query"), &settings(), false)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let params = parse("start_date=2024-01-01&end_date=2024-01-31").expect("valid");
        assert_eq!(params.sort_by, SortKey::ClicksCount);
        assert_eq!(params.direction, Direction::Desc);
        assert_eq!((params.limit, params.page, params.offset()), (100, 1, 0));
        assert!(params.group_by.is_all());
        assert_eq!(params.format, Format::Json);
        assert!(!params.paged);
    }

    #[test]
    fn every_invalid_field_gets_its_reason() {
        let errors = parse(
            "start_date=2024-1-1&sort_by=x&sort_direction=up&limit=0&page=0&offer_id=abc&format=xml&timezone=Mars/Base",
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.fields().collect();
        assert_eq!(
            fields,
            [
                "end_date",
                "format",
                "limit",
                "offer_id",
                "page",
                "sort_by",
                "sort_direction",
                "start_date",
                "timezone"
            ]
        );
    }

    #[test]
    fn huge_numbers_get_range_reasons() {
        let errors = parse(
            "start_date=2024-01-01&end_date=2024-01-01&limit=99999999999999999999999&offer_id=9223372036854775808",
        )
        .expect_err("invalid");
        assert_eq!(
            errors.get("limit"),
            Some(&["The limit field must be between 1 and 1000.".to_owned()][..])
        );
        assert!(errors.get("offer_id").expect("offer_id")[0].contains("greater than"));
    }

    #[test]
    fn the_documented_sort_by_names_are_the_parsed_ones() {
        use crate::reports::model::SortBy;
        let documented: Vec<String> = [
            SortBy::ClicksCount,
            SortBy::OfferId,
            SortBy::Source,
            SortBy::Date,
        ]
        .iter()
        .map(|key| {
            serde_json::to_value(key)
                .expect("name")
                .as_str()
                .expect("string")
                .to_owned()
        })
        .collect();
        let parsed: Vec<&str> = std::iter::once(SortKey::ClicksCount)
            .chain(Dimension::ALL.into_iter().map(SortKey::Dimension))
            .map(SortKey::name)
            .collect();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort();
        let mut parsed_sorted: Vec<String> = parsed.iter().map(|name| (*name).to_owned()).collect();
        parsed_sorted.sort();
        assert_eq!(documented_sorted, parsed_sorted);
    }

    #[test]
    fn sort_by_must_be_grouped() {
        let errors =
            parse("start_date=2024-01-01&end_date=2024-01-01&group_by=offer_id&sort_by=date")
                .expect_err("invalid");
        assert!(errors.get("sort_by").is_some());
        let params = parse("start_date=2024-01-01&end_date=2024-01-01&group_by=source,date,source")
            .expect("valid");
        assert_eq!(
            params.group_by.dimensions(),
            [Dimension::Date, Dimension::Source]
        );
    }
}
