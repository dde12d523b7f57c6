//! The report endpoints' query strings, parsed by hand: every invalid field
//! gets its own reason in `details`.
//!
//! Each report's own fields are read here; those both share (the scope, and
//! integers) in `fields`.

use std::collections::HashMap;

use domain::FieldErrors;

use super::{
    AggregatedParams, DEFAULT_LIMIT, Dimension, Direction, Format, GroupBy, Interval,
    MAX_HOURLY_DAYS, MAX_LIMIT, MAX_PAGE, SortKey, SummaryParams,
};
use crate::ReportSettings;

mod fields;

use fields::{integer, scope};

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
