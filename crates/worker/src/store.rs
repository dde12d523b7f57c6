//! Writing a batch of clicks and their aggregates to MySQL, exactly once.
//!
//! One transaction per batch:
//!
//! 1. insert the batch's clicks, skipping any `click_id` already stored
//!    (`ON DUPLICATE KEY UPDATE id = id`), each row tagged with a random
//!    token of this attempt;
//! 2. add to each (date, offer, source), (hour, offer, source), (date,
//!    offer) and (date, source) aggregate the number of rows that carry this
//!    attempt's token — exactly the clicks
//!    this transaction inserted, whatever other workers or earlier attempts
//!    stored — and bump the report version of each date touched;
//! 3. commit.
//!
//! A redelivered batch (a worker died between commit and `XACK`), a retry
//! after a lost connection whose commit did in fact succeed, or the same
//! click sent twice all insert nothing the second time, so they add nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use domain::StreamClick;
use rand::Rng;
use sea_orm::sea_query::Value;
use sea_orm::{
    AccessMode, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, IsolationLevel, Statement, TransactionTrait,
};
use storage::entity::click;

/// MySQL accepts at most 65,535 placeholders in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// Columns bound per inserted click.
const CLICK_COLUMNS: usize = 8;
/// Rows per `INSERT`, under the placeholder limit.
pub const MAX_ROWS_PER_INSERT: usize = MAX_PLACEHOLDERS / CLICK_COLUMNS - 1;
/// Clicks per aggregate step: the lookup binds one placeholder per click, the
/// upsert four per (date, offer, source) group, and there are never more
/// groups than clicks.
const MAX_IDS_PER_AGGREGATE: usize = MAX_PLACEHOLDERS / 4 - 1;

/// What one committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Clicks newly inserted (and counted).
    pub inserted: u64,
    /// Clicks of the batch that were already stored, or repeated in it.
    pub duplicates: u64,
}

/// Stores `clicks` in one transaction; see the module documentation.
pub async fn store_batch(
    db: &DatabaseConnection,
    clicks: &[&StreamClick],
) -> Result<Stored, DbErr> {
    let unique = unique_sorted(clicks);
    let token = rand::rng().random_range(1..=i64::MAX as u64);
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::ReadCommitted),
            Some(AccessMode::ReadWrite),
        )
        .await?;
    for chunk in unique.chunks(MAX_ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|click| row(click, token));
        click::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([click::Column::ClickId])
            .exec_without_returning(&txn)
            .await?;
    }
    let mut inserted = 0;
    for chunk in unique.chunks(MAX_IDS_PER_AGGREGATE) {
        inserted += add_to_aggregates(&txn, chunk, token).await?;
    }
    txn.commit().await?;
    Ok(Stored {
        inserted,
        duplicates: clicks.len() as u64 - inserted,
    })
}

/// Adds this attempt's new rows to the daily and hourly aggregates, bumps
/// the report version of each date they touch, and returns how many rows
/// there were.
///
/// One indexed lookup finds them (by `click_id`, filtered on the token) and
/// returns their counts per (date, hour, offer, source); the daily and hourly
/// upserts add those counts. Each upsert reads its rows from a derived table
/// and refers to its column in `ON DUPLICATE KEY UPDATE`, which MySQL 8 and
/// MariaDB both accept (unlike `VALUES()`, deprecated in MySQL, or `AS new`,
/// absent from MariaDB). The version bump comes last, so the hot row of
/// today's date is locked only until the commit right after it.
async fn add_to_aggregates(
    txn: &impl ConnectionTrait,
    clicks: &[&StreamClick],
    token: u64,
) -> Result<u64, DbErr> {
    let placeholders = vec!["?"; clicks.len()].join(",");
    let mut values: Vec<Value> = Vec::with_capacity(clicks.len() + 1);
    values.push(token.into());
    values.extend(
        clicks
            .iter()
            .map(|c| Value::from(c.click.click_id.as_str())),
    );
    let groups = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!(
                "SELECT click_date, HOUR(clicked_at), offer_id, source, COUNT(*) FROM clicks \
                 WHERE batch_token = ? AND click_id IN ({placeholders}) \
                 GROUP BY click_date, HOUR(clicked_at), offer_id, source"
            ),
            values,
        ))
        .await?;
    let mut daily: BTreeMap<(NaiveDate, u64, String), i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(NaiveDateTime, u64, String), i64> = BTreeMap::new();
    for group in &groups {
        let date: NaiveDate = group.try_get_by_index(0)?;
        let hour: i64 = group.try_get_by_index(1)?;
        let offer_id: u64 = group.try_get_by_index(2)?;
        let source: String = group.try_get_by_index(3)?;
        let count: i64 = group.try_get_by_index(4)?;
        let hour_start = u32::try_from(hour)
            .ok()
            .and_then(|hour| date.and_hms_opt(hour, 0, 0))
            .ok_or_else(|| DbErr::Custom(format!("MySQL returned hour {hour}")))?;
        *daily.entry((date, offer_id, source.clone())).or_default() += count;
        *hourly.entry((hour_start, offer_id, source)).or_default() += count;
    }
    if daily.is_empty() {
        return Ok(0);
    }
    let mut by_offer: BTreeMap<(NaiveDate, u64), i64> = BTreeMap::new();
    let mut by_source: BTreeMap<(NaiveDate, String), i64> = BTreeMap::new();
    for ((date, offer_id, source), count) in &daily {
        *by_offer.entry((*date, *offer_id)).or_default() += count;
        *by_source.entry((*date, source.clone())).or_default() += count;
    }
    let dates: BTreeSet<NaiveDate> = daily.keys().map(|(date, ..)| *date).collect();
    upsert_counts(
        txn,
        "click_daily_stats",
        &["click_date", "offer_id", "source"],
        daily
            .into_iter()
            .map(|((d, o, s), n)| (vec![d.into(), o.into(), s.into()], n)),
    )
    .await?;
    upsert_counts(
        txn,
        "click_hourly_stats",
        &["click_hour", "offer_id", "source"],
        hourly
            .into_iter()
            .map(|((h, o, s), n)| (vec![h.into(), o.into(), s.into()], n)),
    )
    .await?;
    upsert_counts(
        txn,
        "click_daily_offer_stats",
        &["click_date", "offer_id"],
        by_offer
            .into_iter()
            .map(|((d, o), n)| (vec![d.into(), o.into()], n)),
    )
    .await?;
    upsert_counts(
        txn,
        "click_daily_source_stats",
        &["click_date", "source"],
        by_source
            .into_iter()
            .map(|((d, s), n)| (vec![d.into(), s.into()], n)),
    )
    .await?;
    bump_date_versions(txn, &dates).await?;
    let inserted = groups
        .iter()
        .map(|group| group.try_get_by_index::<i64>(4))
        .sum::<Result<i64, _>>()?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}

/// Adds counts to an aggregate table keyed by `keys`, rows given in key
/// order so concurrent workers lock rows in the same order.
async fn upsert_counts(
    txn: &impl ConnectionTrait,
    table: &str,
    keys: &[&str],
    counts: impl ExactSizeIterator<Item = (Vec<Value>, i64)>,
) -> Result<(), DbErr> {
    let first_row = format!(
        "SELECT {}, ? AS fresh_count",
        keys.iter()
            .map(|key| format!("? AS {key}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let other_rows = format!("SELECT {}", vec!["?"; keys.len() + 1].join(", "));
    let mut rows = Vec::with_capacity(counts.len());
    let mut values: Vec<Value> = Vec::with_capacity(counts.len() * (keys.len() + 1));
    for (key, count) in counts {
        rows.push(if rows.is_empty() {
            first_row.as_str()
        } else {
            other_rows.as_str()
        });
        values.extend(key);
        values.push(count.into());
    }
    let columns = keys.join(", ");
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::MySql,
        format!(
            "INSERT INTO {table} ({columns}, clicks_count) \
             SELECT {columns}, fresh_count FROM ({}) AS fresh \
             ON DUPLICATE KEY UPDATE clicks_count = clicks_count + fresh.fresh_count",
            rows.join(" UNION ALL ")
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// Moves the report version of each date, invalidating cached reports that cover it.
async fn bump_date_versions(
    txn: &impl ConnectionTrait,
    dates: &BTreeSet<NaiveDate>,
) -> Result<(), DbErr> {
    let rows = vec!["(?, 1)"; dates.len()].join(",");
    let values: Vec<Value> = dates.iter().map(|date| (*date).into()).collect();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::MySql,
        format!(
            "INSERT INTO report_date_versions (click_date, version) VALUES {rows} \
             ON DUPLICATE KEY UPDATE version = version + 1"
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// One click per `click_id` (the first), ordered by `click_id` so that
/// concurrent workers lock rows in the same order and rarely deadlock.
fn unique_sorted<'a>(clicks: &[&'a StreamClick]) -> Vec<&'a StreamClick> {
    let mut seen = HashSet::with_capacity(clicks.len());
    let mut unique: Vec<&StreamClick> = clicks
        .iter()
        .copied()
        .filter(|c| seen.insert(c.click.click_id.as_str()))
        .collect();
    unique.sort_unstable_by(|a, b| a.click.click_id.cmp(&b.click.click_id));
    unique
}

fn row(entry: &StreamClick, token: u64) -> click::ActiveModel {
    let click = &entry.click;
    click::ActiveModel {
        click_id: Set(click.click_id.clone()),
        offer_id: Set(click.offer_id.get()),
        source: Set(click.source.clone()),
        clicked_at: Set(naive(click.timestamp)),
        click_date: Set(click.date()),
        signature: Set(click.signature.clone()),
        received_at: Set(naive(entry.received_at)),
        batch_token: Set(token),
        ..Default::default()
    }
}

fn naive(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    at.naive_utc()
}

/// MySQL error numbers worth retrying: lock wait timeout, deadlock, and the
/// server going away or the connection dropping mid-query.
const TRANSIENT_ERROR_NUMBERS: [u16; 4] = [1205, 1213, 2006, 2013];

/// Errors worth retrying with the same batch: deadlocks, lock wait
/// timeouts and lost or unavailable connections.
pub fn is_transient(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let sqlx_error = match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|mysql| TRANSIENT_ERROR_NUMBERS.contains(&mysql.number())),
        _ => false,
    }
}

/// MySQL refused the data itself (SQLSTATE class 22, data exception, or 23,
/// integrity constraint violation): retrying the same rows cannot help.
pub fn is_data_error(error: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
                _ => false,
            }
        }
        _ => false,
    }
}
