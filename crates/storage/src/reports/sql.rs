//! The SQL of the reports. Everything is grouped, sorted and paginated by
//! MySQL; ties are broken by the grouped dimensions, so a page is a
//! deterministic slice of one total order.
//!
//! UTC reports read `click_daily_stats` by primary-key range
//! (`click_date BETWEEN ? AND ?`), or by `(offer_id, click_date)` /
//! `(source, click_date)` when filtered; reports in another zone read
//! `click_hourly_stats` the same way by UTC hour (see `timezone`).
//!
//! A restricted key's sources and offers (`Selection::only_*`) are one
//! more filter in every `WHERE` (`source IN (…)`, `offer_id IN (…)`), next
//! to the query's own: the two intersect. The fast paths that read tables
//! without those columns, or skip filters, are taken only unfiltered.

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::sqlx::{self, MySql, mysql::MySqlArguments};

use super::{Aggregation, DaySource, Dimension, Selection, SortKey};

/// A bound parameter.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Date(NaiveDate),
    Hour(NaiveDateTime),
    Unsigned(u64),
    Text(String),
}

/// SQL text plus its parameters, in order.
#[derive(Debug, Clone)]
pub(super) struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Query {
    /// The query for sqlx (for streams and snapshots, which SeaORM's
    /// connection does not offer).
    pub fn sqlx(&self) -> sqlx::query::Query<'_, MySql, MySqlArguments> {
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(self.sql.as_str()));
        for param in &self.params {
            statement = match param {
                Param::Date(date) => statement.bind(*date),
                Param::Hour(hour) => statement.bind(*hour),
                Param::Unsigned(n) => statement.bind(*n),
                Param::Text(text) => statement.bind(text.as_str()),
            };
        }
        statement
    }
}

/// The table, the local-date expression and the `WHERE` of a scope.
struct Source {
    table: &'static str,
    date_sql: String,
    where_sql: String,
    params: Vec<Param>,
}

fn source(scope: &Selection) -> Source {
    let (table, date_sql, mut where_sql, mut params) = match &scope.days {
        DaySource::UtcDaily => (
            "click_daily_stats",
            "click_date".to_owned(),
            "click_date BETWEEN ? AND ?".to_owned(),
            vec![Param::Date(scope.start_date), Param::Date(scope.end_date)],
        ),
        DaySource::Hourly {
            first_hour,
            last_hour,
            offsets,
        } => (
            "click_hourly_stats",
            DaySource::hourly_date_sql(offsets),
            "click_hour BETWEEN ? AND ?".to_owned(),
            vec![Param::Hour(*first_hour), Param::Hour(*last_hour)],
        ),
    };
    filter(scope, &mut where_sql, &mut params);
    Source {
        table,
        date_sql,
        where_sql,
        params,
    }
}

/// Appends the scope's offer and source filters, and its key's restriction.
fn filter(scope: &Selection, where_sql: &mut String, params: &mut Vec<Param>) {
    if let Some(offer_id) = scope.offer_id {
        where_sql.push_str(" AND offer_id = ?");
        params.push(Param::Unsigned(offer_id));
    }
    if let Some(source) = &scope.source {
        where_sql.push_str(" AND source = ?");
        params.push(Param::Text(source.clone()));
    }
    if let Some(offers) = &scope.only_offers {
        where_sql.push_str(&format!(
            " AND offer_id IN ({})",
            placeholders(offers.len())
        ));
        params.extend(offers.iter().map(|offer| Param::Unsigned(*offer)));
    }
    if let Some(sources) = &scope.only_sources {
        where_sql.push_str(&format!(" AND source IN ({})", placeholders(sources.len())));
        params.extend(sources.iter().map(|source| Param::Text(source.clone())));
    }
}

/// `?, ?, …` (`count` of them, at least one: an empty `IN ()` is invalid
/// SQL, and the keys file refuses empty lists).
fn placeholders(count: usize) -> String {
    vec!["?"; count.max(1)].join(", ")
}

/// Column alias of a dimension in the aggregated queries.
fn alias(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Date => "d",
        Dimension::OfferId => "offer_id",
        Dimension::Source => "source",
    }
}

/// Whether rows are the table's own rows (no `GROUP BY` needed): the daily
/// table's key is exactly (date, offer_id, source). Filters (and a
/// restriction) only drop whole rows, so they keep this true.
fn ungrouped(aggregation: &Aggregation) -> bool {
    aggregation.selection.days == DaySource::UtcDaily && aggregation.groups_all()
}

/// Deepest page end (offset + limit) served by the per-date top-k plan.
const TOP_K_MAX: u64 = 10_000;

/// The aggregated rows, in order: grouped dimensions (date as `d`) then `c`.
/// `page`: `Some((limit, offset))` for one page, `None` for every row.
pub(super) fn aggregated_rows(aggregation: &Aggregation, page: Option<(u64, u64)>) -> Query {
    if let Some((limit, offset)) = page
        && offset + limit <= TOP_K_MAX
        && ungrouped(aggregation)
        && aggregation.sort_by == SortKey::ClicksCount
        && !aggregation.selection.is_filtered()
    {
        return top_by_clicks(aggregation, limit, offset);
    }
    let Source {
        table,
        date_sql,
        where_sql,
        params: mut values,
    } = source(&aggregation.selection);
    let dims = &aggregation.dimensions;
    let mut columns: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dimension::Date => format!("{date_sql} AS d"),
            other => alias(*other).to_owned(),
        })
        .collect();
    let mut sql = if ungrouped(aggregation) {
        columns.push("clicks_count AS c".to_owned());
        format!(
            "SELECT {} FROM {table} WHERE {where_sql}",
            columns.join(", ")
        )
    } else {
        columns.push("CAST(SUM(clicks_count) AS UNSIGNED) AS c".to_owned());
        let group: Vec<&str> = dims.iter().map(|d| alias(*d)).collect();
        format!(
            "SELECT {} FROM {table} WHERE {where_sql} GROUP BY {}",
            columns.join(", "),
            group.join(", ")
        )
    };
    let direction = aggregation.order.sql();
    let mut order = vec![match aggregation.sort_by {
        SortKey::ClicksCount => format!("c {direction}"),
        SortKey::Dimension(d) => format!("{} {direction}", alias(d)),
    }];
    // Ties follow the sort's direction, so `desc` is exactly `asc` reversed
    // and a descending walk can read an ascending index backwards.
    order.extend(
        dims.iter()
            .filter(|d| aggregation.sort_by != SortKey::Dimension(**d))
            .map(|d| format!("{} {direction}", alias(*d))),
    );
    sql.push_str(" ORDER BY ");
    sql.push_str(&order.join(", "));
    if let Some((limit, offset)) = page {
        sql.push_str(" LIMIT ? OFFSET ?");
        values.extend([Param::Unsigned(limit), Param::Unsigned(offset)]);
    }
    Query {
        sql,
        params: values,
    }
}

/// The busiest rows of a range without filters, the report clients ask for
/// most: the first `offset + limit` rows overall are among the first
/// `offset + limit` rows of each date, and each date's are read in order from
/// `idx_daily_date_count (click_date, clicks_count, offer_id, source)` without
/// sorting. So a 31-day page reads ≤ 31 × (offset + limit) index entries
/// instead of sorting every row of the range.
fn top_by_clicks(aggregation: &Aggregation, limit: u64, offset: u64) -> Query {
    let direction = aggregation.order.sql();
    let scope = &aggregation.selection;
    let mut parts = Vec::new();
    let mut values = Vec::new();
    for date in scope
        .start_date
        .iter_days()
        .take_while(|date| *date <= scope.end_date)
    {
        parts.push(format!(
            "(SELECT click_date AS d, offer_id, source, clicks_count AS c \
             FROM click_daily_stats WHERE click_date = ? \
             ORDER BY c {direction}, offer_id {direction}, source {direction} LIMIT ?)"
        ));
        values.extend([Param::Date(date), Param::Unsigned(offset + limit)]);
    }
    values.extend([Param::Unsigned(limit), Param::Unsigned(offset)]);
    Query {
        sql: format!(
            "SELECT d, offer_id, source, c FROM ({}) AS per_date \
             ORDER BY c {direction}, d {direction}, offer_id {direction}, source {direction} \
             LIMIT ? OFFSET ?",
            parts.join(" UNION ALL ")
        ),
        params: values,
    }
}

/// How many aggregated rows there are in all, as `n`.
pub(super) fn aggregated_total(aggregation: &Aggregation) -> Query {
    let Source {
        table,
        date_sql,
        where_sql,
        params: values,
    } = source(&aggregation.selection);
    let sql = if ungrouped(aggregation) {
        format!("SELECT COUNT(*) AS n FROM {table} WHERE {where_sql}")
    } else {
        let keys: Vec<String> = aggregation
            .dimensions
            .iter()
            .map(|d| match d {
                Dimension::Date => date_sql.clone(),
                other => alias(*other).to_owned(),
            })
            .collect();
        format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} WHERE {where_sql} GROUP BY {}) AS g",
            keys.join(", ")
        )
    };
    Query {
        sql,
        params: values,
    }
}

/// For an unfiltered UTC summary, the per-dimension daily table that holds
/// `column` (`offer_id`, or `source` — which also serves totals): far fewer
/// rows than every (offer, source) pair of every day. Those tables lack the
/// other column, so a filtered or restricted scope reads the full table.
fn summary_source(scope: &Selection, column: &'static str) -> Source {
    let unfiltered_utc = scope.days == DaySource::UtcDaily && !scope.is_filtered();
    if !unfiltered_utc {
        return source(scope);
    }
    Source {
        table: if column == "offer_id" {
            "click_daily_offer_stats"
        } else {
            "click_daily_source_stats"
        },
        date_sql: "click_date".to_owned(),
        where_sql: "click_date BETWEEN ? AND ?".to_owned(),
        params: vec![Param::Date(scope.start_date), Param::Date(scope.end_date)],
    }
}

/// Total clicks, distinct offers and distinct sources (`clicks`, `offers`,
/// `sources`).
pub(super) fn summary_totals(scope: &Selection) -> Query {
    let by_source = summary_source(scope, "source");
    let by_offer = summary_source(scope, "offer_id");
    let mut params = by_source.params.clone();
    params.extend(by_offer.params.iter().cloned());
    params.extend(by_source.params.iter().cloned());
    Query {
        sql: format!(
            "SELECT \
             (SELECT CAST(COALESCE(SUM(clicks_count), 0) AS UNSIGNED) FROM {} WHERE {}) AS clicks, \
             (SELECT COUNT(DISTINCT offer_id) FROM {} WHERE {}) AS offers, \
             (SELECT COUNT(DISTINCT source) FROM {} WHERE {}) AS sources",
            by_source.table,
            by_source.where_sql,
            by_offer.table,
            by_offer.where_sql,
            by_source.table,
            by_source.where_sql,
        ),
        params,
    }
}

/// Clicks per local date (`local_date`, `clicks`), in date order (dates without clicks
/// absent).
pub(super) fn summary_daily(scope: &Selection) -> Query {
    let Source {
        table,
        date_sql,
        where_sql,
        params,
    } = summary_source(scope, "source");
    Query {
        sql: format!(
            "SELECT {date_sql} AS local_date, CAST(SUM(clicks_count) AS UNSIGNED) AS clicks \
             FROM {table} WHERE {where_sql} GROUP BY local_date ORDER BY local_date"
        ),
        params,
    }
}

/// Clicks per UTC hour of the scope's local days (`click_hour`, `clicks`), in hour order
/// (hours without clicks absent).
pub(super) fn summary_hourly(scope: &Selection) -> Query {
    let (first, last) = scope.days.utc_hours(scope.start_date, scope.end_date);
    let mut where_sql = "click_hour BETWEEN ? AND ?".to_owned();
    let mut params = vec![Param::Hour(first), Param::Hour(last)];
    filter(scope, &mut where_sql, &mut params);
    Query {
        sql: format!(
            "SELECT click_hour, CAST(SUM(clicks_count) AS UNSIGNED) AS clicks \
             FROM click_hourly_stats WHERE {where_sql} GROUP BY click_hour ORDER BY click_hour"
        ),
        params,
    }
}

/// The `limit` offers or sources (`column`, `clicks`) with the most clicks, ties
/// by key.
pub(super) fn summary_top(scope: &Selection, column: &'static str, limit: u64) -> Query {
    let Source {
        table,
        where_sql,
        mut params,
        ..
    } = summary_source(scope, column);
    params.push(Param::Unsigned(limit));
    Query {
        sql: format!(
            "SELECT {column}, CAST(SUM(clicks_count) AS UNSIGNED) AS clicks FROM {table} \
             WHERE {where_sql} GROUP BY {column} ORDER BY clicks DESC, {column} LIMIT ?"
        ),
        params,
    }
}

/// The versions of UTC dates `first..=last` (absent dates have none yet).
pub(super) fn date_versions(first: NaiveDate, last: NaiveDate) -> Query {
    Query {
        sql: "SELECT click_date, version FROM report_date_versions \
              WHERE click_date BETWEEN ? AND ? ORDER BY click_date"
            .to_owned(),
        params: vec![Param::Date(first), Param::Date(last)],
    }
}

/// One text query (three statements, one round trip) that opens a
/// read-only snapshot and reads the versions of UTC dates `first..=last`
/// in it: REPEATABLE READ even where the server's default is another
/// level, as a snapshot only holds across statements at that level;
/// `READ ONLY`, so InnoDB assigns no transaction id. The dates are written
/// into the text (a date prints as digits and dashes): the text protocol,
/// which alone runs several statements at once, has no parameters.
pub(super) fn snapshot_with_date_versions(first: NaiveDate, last: NaiveDate) -> String {
    format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
         START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY; \
         SELECT click_date, version FROM report_date_versions \
         WHERE click_date BETWEEN '{first}' AND '{last}' ORDER BY click_date"
    )
}

/// Ends a snapshot (nothing to undo: it only read).
pub(super) const END_SNAPSHOT: &str = "ROLLBACK";
