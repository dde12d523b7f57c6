//! The aggregates a stored click counts in: the daily, hourly, per-offer and
//! per-source tables the reports read, and the report version of each date,
//! which invalidates cached reports covering it.
//!
//! Counting happens in two steps, each one transaction, so that every click
//! is counted exactly once while the aggregate rows are written far less
//! often than clicks arrive:
//!
//! 1. [`crate::clicks::store_batch`] inserts a batch's clicks and, in the same
//!    transaction, one *delta* row ([`deltas::record`]): how many of exactly
//!    the clicks it inserted fall in each (hour, offer, source) group;
//! 2. a *fold* ([`fold_pending`]) takes the pending deltas (`FOR UPDATE SKIP
//!    LOCKED`, so concurrent folds take disjoint sets), adds their merged
//!    counts to the four aggregate tables, bumps the version of each date
//!    touched, and deletes the deltas — again in one transaction.
//!
//! A delta is added by the transaction that deletes it, so a fold that fails
//! or is killed leaves it for the next one; one fold of many batches touches
//! each hot aggregate row once instead of once per batch. Reports lag the
//! clicks by the time between folds (the worker folds every
//! `AGGREGATES_FOLD_INTERVAL_MS` while there are deltas, and when a lane
//! catches up).

mod audit;
mod deltas;

pub use audit::{AggregateCheck, audit};
pub(crate) use deltas::record;
pub use deltas::{
    Folded, MAX_CLICKS_PER_FOLD, MAX_DELTAS_PER_FOLD, fold_all, fold_pending, pending_deltas,
};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use domain::StreamClick;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use crate::sql_text::SqlText;

/// Adds `counts` — (UTC hour start, offer, source, clicks) — to the
/// aggregates in one transaction, as a fold does, without raw clicks behind
/// them: for seeding reports in tests and tools, never for stored clicks
/// (their deltas are folded).
pub async fn add_counts(
    db: &DatabaseConnection,
    counts: impl IntoIterator<Item = (NaiveDateTime, u64, String, i64)>,
) -> Result<(), DbErr> {
    let mut groups = Groups::new();
    for (hour, offer_id, source, count) in counts {
        let hour_start = hour.date().and_hms_opt(hour.hour(), 0, 0).unwrap_or(hour);
        *groups
            .entry((hour.date(), hour_start, offer_id, source))
            .or_default() += count;
    }
    let txn = db.begin().await?;
    add_to_aggregates(&txn, &groups).await?;
    txn.commit().await
}

/// The aggregate group of a click: (UTC date, UTC hour start, offer, source).
pub(crate) type Group = (NaiveDate, NaiveDateTime, u64, String);

/// New clicks per group.
pub(crate) type Groups = BTreeMap<Group, i64>;

/// The group `entry` counts in.
pub(crate) fn group_of(entry: &StreamClick) -> Group {
    let click = &entry.click;
    let date = click.date();
    let hour = click.timestamp.hour();
    let hour_start = date
        .and_hms_opt(hour, 0, 0)
        .unwrap_or_else(|| date.and_time(NaiveTime::MIN));
    (date, hour_start, click.offer_id.get(), click.source.clone())
}

/// Adds the new clicks to the daily, hourly and per-dimension aggregates and
/// bumps the report version of each date they touch. The version bump comes
/// last, so the hot row of today's date is locked only until the commit
/// right after it.
async fn add_to_aggregates(txn: &impl ConnectionTrait, groups: &Groups) -> Result<(), DbErr> {
    let mut daily: BTreeMap<(NaiveDate, u64, &str), i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(NaiveDateTime, u64, &str), i64> = BTreeMap::new();
    let mut by_offer: BTreeMap<(NaiveDate, u64), i64> = BTreeMap::new();
    let mut by_source: BTreeMap<(NaiveDate, &str), i64> = BTreeMap::new();
    for ((date, hour, offer_id, source), count) in groups {
        let (date, hour, offer_id, source) = (*date, *hour, *offer_id, source.as_str());
        *daily.entry((date, offer_id, source)).or_default() += count;
        *by_offer.entry((date, offer_id)).or_default() += count;
        *by_source.entry((date, source)).or_default() += count;
        *hourly.entry((hour, offer_id, source)).or_default() += count;
    }
    let dates: BTreeSet<NaiveDate> = daily.keys().map(|(date, ..)| *date).collect();
    upsert_counts(
        txn,
        "click_daily_stats",
        &["click_date", "offer_id", "source"],
        &daily,
        |sql, (date, offer_id, source)| {
            sql.date(*date).comma().int(*offer_id).comma().text(source);
        },
    )
    .await?;
    upsert_counts(
        txn,
        "click_hourly_stats",
        &["click_hour", "offer_id", "source"],
        &hourly,
        |sql, (hour, offer_id, source)| {
            sql.datetime(*hour)
                .comma()
                .int(*offer_id)
                .comma()
                .text(source);
        },
    )
    .await?;
    upsert_counts(
        txn,
        "click_daily_offer_stats",
        &["click_date", "offer_id"],
        &by_offer,
        |sql, (date, offer_id)| {
            sql.date(*date).comma().int(*offer_id);
        },
    )
    .await?;
    upsert_counts(
        txn,
        "click_daily_source_stats",
        &["click_date", "source"],
        &by_source,
        |sql, (date, source)| {
            sql.date(*date).comma().text(source);
        },
    )
    .await?;
    bump_date_versions(txn, &dates).await
}

/// Aggregate rows per statement: keeps each statement a few hundred KB.
const MAX_ROWS_PER_UPSERT: usize = 5_000;

/// Adds counts to an aggregate table keyed by `keys`, rows given in key
/// order (a `BTreeMap`) so concurrent workers lock rows in the same order.
///
/// A plain multi-row `VALUES` list with `VALUES(clicks_count)` in the update:
/// both MySQL 8 and MariaDB run it (MySQL 8.0.20+ flags `VALUES()` as
/// deprecated but keeps it; its `AS new` alias does not exist in MariaDB),
/// and it costs the server far less to parse than a derived table of
/// `SELECT … UNION ALL` rows.
///
/// The values are written into the statement as literals ([`SqlText`])
/// rather than bound: the row count differs from batch to batch, so a
/// prepared statement would be prepared, used once and closed every time —
/// three round trips, and a column definition per placeholder decoded by
/// the worker (an eighth of its CPU).
async fn upsert_counts<K>(
    txn: &impl ConnectionTrait,
    table: &str,
    keys: &[&str],
    counts: &BTreeMap<K, i64>,
    write_key: impl Fn(&mut SqlText, &K),
) -> Result<(), DbErr> {
    let rows: Vec<(&K, &i64)> = counts.iter().collect();
    for chunk in rows.chunks(MAX_ROWS_PER_UPSERT) {
        let mut sql = SqlText::with_capacity(120 + chunk.len() * 48);
        sql.raw(&format!(
            "INSERT INTO {table} ({}, clicks_count) VALUES ",
            keys.join(", ")
        ));
        for (index, (key, count)) in chunk.iter().enumerate() {
            if index > 0 {
                sql.comma();
            }
            sql.raw("(");
            write_key(&mut sql, key);
            sql.comma().int(**count).raw(")");
        }
        sql.raw(" ON DUPLICATE KEY UPDATE clicks_count = clicks_count + VALUES(clicks_count)");
        txn.execute_unprepared(sql.as_str()).await?;
    }
    Ok(())
}

/// Moves the report version of each date, invalidating cached reports that cover it.
///
/// A date's first version is random, not 1: a database dropped and created
/// again under the same URL (a restore, a test) must not repeat the versions
/// of the old one, or a report cached from the old data would look current.
async fn bump_date_versions(
    txn: &impl ConnectionTrait,
    dates: &BTreeSet<NaiveDate>,
) -> Result<(), DbErr> {
    let mut sql = SqlText::with_capacity(120 + dates.len() * 40);
    sql.raw("INSERT INTO report_date_versions (click_date, version) VALUES ");
    for (index, date) in dates.iter().enumerate() {
        if index > 0 {
            sql.comma();
        }
        // Below 2^62: room for a practically endless number of bumps.
        let first = rand::random::<u64>() >> 2;
        sql.raw("(").date(*date).raw(", ").int(first).raw(")");
    }
    sql.raw(" ON DUPLICATE KEY UPDATE version = version + 1");
    txn.execute_unprepared(sql.as_str()).await?;
    Ok(())
}
