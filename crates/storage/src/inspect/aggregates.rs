//! The aggregate tables and the date versions, read for checks, and a row
//! planted in one table alone for the audit to find.

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, Statement,
    Value,
};

use super::{count, optional_count, unsigned};
use crate::entity::report_date_version;

/// The clicks the daily aggregate counts: cheap to poll (a row per date,
/// offer and source); it reaches the stored clicks once every delta is
/// folded.
pub async fn daily_total(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(counts(db, "0").await?.1)
}

/// The clicks the folds have counted, read from the per-source rollup (a
/// row per date and source, so a few rows where the daily aggregate has
/// thousands): the cheapest total to poll while measuring the workers. A
/// fold writes every aggregate in one transaction, so it equals
/// [`daily_total`] whenever it is read.
pub async fn counted_total(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    count(
        db,
        "SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) AS n \
         FROM click_daily_source_stats",
        [],
    )
    .await
}

/// The stored clicks and the clicks the daily aggregate counts, read in one
/// statement (so from one snapshot): equal once every delta is folded.
pub async fn clicks_and_daily_total(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    counts(db, "(SELECT COUNT(*) FROM clicks)").await
}

/// `(clicks, the daily aggregate's total)`, with `clicks` the SQL that
/// counts the clicks (`0` when the caller needs only the total).
async fn counts(db: &impl ConnectionTrait, clicks: &str) -> Result<(u64, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Counts {
        clicks: i64,
        counted: i64,
    }
    let counts = Counts::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        format!(
            "SELECT {clicks} AS clicks, \
             (SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM click_daily_stats) \
             AS counted"
        ),
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the counts of clicks".to_owned()))?;
    Ok((unsigned(counts.clicks), unsigned(counts.counted)))
}

/// The clicks the daily aggregate counts for `offer_id` and `source` on
/// `date` (`None` when it has no such row).
pub async fn daily_count(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    offer_id: u64,
    source: &str,
) -> Result<Option<u64>, DbErr> {
    optional_count(
        db,
        "SELECT CAST(clicks_count AS SIGNED) AS n FROM click_daily_stats \
         WHERE click_date = ? AND offer_id = ? AND source = ?",
        [date.into(), offer_id.into(), source.into()],
    )
    .await
}

/// How many rows the daily aggregate has: one per (date, offer, source).
pub async fn daily_rows(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    count(db, "SELECT COUNT(*) AS n FROM click_daily_stats", []).await
}

/// How many rows of the daily aggregate count exactly `clicks`.
pub async fn daily_rows_counting(db: &impl ConnectionTrait, clicks: u64) -> Result<u64, DbErr> {
    count(
        db,
        "SELECT COUNT(*) AS n FROM click_daily_stats WHERE clicks_count = ?",
        [clicks.into()],
    )
    .await
}

/// How many different (date, offer, source) groups the stored clicks fall
/// in: the rows the daily aggregate should have.
pub async fn click_groups(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    count(
        db,
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT click_date, offer_id, source FROM clicks) g",
        [],
    )
    .await
}

/// What each aggregate table with a `source` column counts for one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTotals {
    /// `click_daily_stats`.
    pub daily: u64,
    /// `click_hourly_stats`.
    pub hourly: u64,
    /// `click_daily_source_stats`.
    pub daily_source: u64,
}

/// The clicks of exactly `source` (no other source compares equal to it)
/// in each aggregate table that has one, read in one statement.
pub async fn source_totals(db: &impl ConnectionTrait, source: &str) -> Result<SourceTotals, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        daily: i64,
        hourly: i64,
        daily_source: i64,
    }
    let total = |table: &str| {
        format!(
            "(SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM {table} \
             WHERE source = ?)"
        )
    };
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::MySql,
        format!(
            "SELECT {} AS daily, {} AS hourly, {} AS daily_source",
            total("click_daily_stats"),
            total("click_hourly_stats"),
            total("click_daily_source_stats"),
        ),
        [source.into(), source.into(), source.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound(format!("the totals of source {source:?}")))?;
    Ok(SourceTotals {
        daily: unsigned(row.daily),
        hourly: unsigned(row.hourly),
        daily_source: unsigned(row.daily_source),
    })
}

/// The report version of UTC date `date` (`None` before its first fold).
pub async fn date_version(
    db: &impl ConnectionTrait,
    date: NaiveDate,
) -> Result<Option<u64>, DbErr> {
    Ok(report_date_version::Entity::find_by_id(date)
        .one(db)
        .await?
        .map(|row| row.version))
}

/// How many different dates of stored clicks have no report version (no
/// row, or version 0): none once every delta is folded.
pub async fn click_dates_without_version(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    count(
        db,
        "SELECT COUNT(DISTINCT c.click_date) AS n FROM clicks c \
         LEFT JOIN report_date_versions v ON v.click_date = c.click_date \
         WHERE v.version IS NULL OR v.version = 0",
        [],
    )
    .await
}

/// Refreshes the aggregate tables' index statistics, as after a bulk load.
pub async fn analyze_aggregates(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared(
        "ANALYZE TABLE click_daily_stats, click_hourly_stats, click_daily_offer_stats, \
         click_daily_source_stats",
    )
    .await
    .map(drop)
}

/// One row of one aggregate table, by that table's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregateRow {
    /// A row of `click_daily_stats`.
    Daily {
        date: NaiveDate,
        offer_id: u64,
        source: String,
    },
    /// A row of `click_hourly_stats`; `hour` is the hour's start.
    Hourly {
        hour: NaiveDateTime,
        offer_id: u64,
        source: String,
    },
    /// A row of `click_daily_offer_stats`.
    DailyOffer { date: NaiveDate, offer_id: u64 },
    /// A row of `click_daily_source_stats`.
    DailySource { date: NaiveDate, source: String },
}

impl AggregateRow {
    /// The row's table, its key columns and their values.
    fn table_and_key(&self) -> (&'static str, &'static [&'static str], Vec<Value>) {
        match self {
            Self::Daily {
                date,
                offer_id,
                source,
            } => (
                "click_daily_stats",
                &["click_date", "offer_id", "source"],
                vec![(*date).into(), (*offer_id).into(), source.as_str().into()],
            ),
            Self::Hourly {
                hour,
                offer_id,
                source,
            } => (
                "click_hourly_stats",
                &["click_hour", "offer_id", "source"],
                vec![(*hour).into(), (*offer_id).into(), source.as_str().into()],
            ),
            Self::DailyOffer { date, offer_id } => (
                "click_daily_offer_stats",
                &["click_date", "offer_id"],
                vec![(*date).into(), (*offer_id).into()],
            ),
            Self::DailySource { date, source } => (
                "click_daily_source_stats",
                &["click_date", "source"],
                vec![(*date).into(), source.as_str().into()],
            ),
        }
    }
}

/// Adds `clicks` to `row` of its one aggregate table and to no other table,
/// no date version, no click: a disagreement planted for the audit
/// (`aggregates::audit`) to find. Test support only — consistent counts
/// without clicks come from `aggregates::add_counts`, which keeps the four
/// tables agreeing.
pub async fn add_to_one_aggregate_table(
    db: &impl ConnectionTrait,
    row: &AggregateRow,
    clicks: u64,
) -> Result<(), DbErr> {
    let (table, keys, mut values) = row.table_and_key();
    let placeholders = vec!["?"; keys.len() + 1].join(", ");
    values.push(clicks.into());
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::MySql,
        format!(
            "INSERT INTO {table} ({}, clicks_count) VALUES ({placeholders}) \
             ON DUPLICATE KEY UPDATE clicks_count = clicks_count + VALUES(clicks_count)",
            keys.join(", ")
        ),
        values,
    ))
    .await
    .map(drop)
}
