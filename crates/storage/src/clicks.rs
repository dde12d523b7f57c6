//! Storing a batch of clicks and their aggregates in MySQL, exactly once.
//!
//! One transaction per batch:
//!
//! 1. insert the batch's clicks, skipping any `click_id` already stored
//!    (`INSERT IGNORE`), each row tagged with a random token of this attempt;
//! 2. record, as one delta row for the aggregates (see [`crate::aggregates`]),
//!    how many of exactly the clicks this transaction inserted fall in each
//!    (hour, offer, source) group — all of the batch when the insert reports
//!    every row as new, otherwise the rows that carry this attempt's token,
//!    whatever other workers or earlier attempts stored;
//! 3. commit. A later fold adds the delta to the aggregate tables.
//!
//! The insert binds its values, in statements of ten fixed sizes (see
//! [`statement_rows`]), so each is prepared once per connection.
//!
//! A redelivered batch (a worker died between commit and `XACK`), a retry
//! after a lost connection whose commit did in fact succeed, or the same
//! click sent twice all insert nothing the second time, so they add nothing.

use std::collections::HashSet;

use chrono::NaiveDate;
use domain::StreamClick;
use rand::Rng;
use sea_orm::sea_query::Value;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, IsolationLevel, Statement,
    TransactionTrait,
};

use crate::aggregates::{self, Group, Groups};

/// MySQL accepts at most 65,535 placeholders in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// `click_id`s per lookup (one placeholder each, plus the token).
const MAX_IDS_PER_LOOKUP: usize = MAX_PLACEHOLDERS - 1;

/// What one committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Clicks newly inserted (and counted).
    pub inserted: u64,
    /// Clicks of the batch that were already stored, or repeated in it.
    pub duplicates: u64,
    /// How the rows the batch inserted were found, when some of its
    /// clicks were already stored.
    pub read_back: ReadBack,
}

/// How a batch that met stored clicks found the rows it inserted, to count
/// exactly those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadBack {
    /// Nothing to find: each insert took all its clicks or none.
    #[default]
    Unneeded,
    /// By the id ranges of its inserts: one primary-key range scan.
    IdRanges,
    /// By `click_id`, through its unique index: when the id ranges did not
    /// hold exactly the rows the inserts reported, or when asked to.
    ClickIds,
}

/// Stores `clicks` in one transaction; see the module documentation.
pub async fn store_batch(
    db: &DatabaseConnection,
    clicks: &[&StreamClick],
) -> Result<Stored, DbErr> {
    store(db, clicks, true).await
}

/// [`store_batch`], finding the rows a batch inserted by `click_id` only
/// (its fallback): for tests that prove both ways count the same.
pub async fn store_batch_reading_back_by_click_id(
    db: &DatabaseConnection,
    clicks: &[&StreamClick],
) -> Result<Stored, DbErr> {
    store(db, clicks, false).await
}

async fn store(
    db: &DatabaseConnection,
    clicks: &[&StreamClick],
    by_id_ranges: bool,
) -> Result<Stored, DbErr> {
    let unique = unique_sorted(clicks);
    let token = rand::rng().random_range(1..=i64::MAX as u64);
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::ReadCommitted),
            Some(AccessMode::ReadWrite),
        )
        .await?;
    let mut groups = Groups::new();
    // Statements that met stored clicks: their fresh rows are read back
    // once, after the last insert.
    let mut partly_new: Vec<(&[&StreamClick], Inserted)> = Vec::new();
    let mut rest = unique.as_slice();
    while !rest.is_empty() {
        let (taken, insert) = insert_clicks(&txn, rest, token).await?;
        let (chunk, tail) = rest.split_at(taken);
        rest = tail;
        if insert.inserted == chunk.len() as u64 {
            // Every click of the chunk was new: count them as they are.
            for entry in chunk {
                *groups.entry(aggregates::group_of(entry)).or_default() += 1;
            }
        } else if insert.inserted > 0 {
            partly_new.push((chunk, insert));
        }
    }
    let mut read_back = ReadBack::Unneeded;
    if !partly_new.is_empty() {
        // Some were stored before: count exactly the rows carrying this
        // attempt's token — found by their ids when they can be, else
        // through the `click_id` index.
        let in_ranges = if by_id_ranges {
            fresh_in_id_ranges(&txn, &partly_new, token).await?
        } else {
            None
        };
        match in_ranges {
            Some(fresh) => {
                read_back = ReadBack::IdRanges;
                for entry in fresh {
                    *groups.entry(aggregates::group_of(entry)).or_default() += 1;
                }
            }
            None => {
                read_back = ReadBack::ClickIds;
                let clicks: Vec<&StreamClick> = partly_new
                    .iter()
                    .flat_map(|(chunk, _)| chunk.iter().copied())
                    .collect();
                for ids in clicks.chunks(MAX_IDS_PER_LOOKUP) {
                    for (key, count) in lookup_fresh(&txn, ids, token).await? {
                        *groups.entry(key).or_default() += count;
                    }
                }
            }
        }
    }
    let inserted: i64 = groups.values().sum();
    if inserted > 0 {
        aggregates::record(&txn, &groups).await?;
    }
    txn.commit().await?;
    let inserted = u64::try_from(inserted).unwrap_or(0);
    Ok(Stored {
        inserted,
        duplicates: clicks.len() as u64 - inserted,
        read_back,
    })
}

/// `INSERT IGNORE`s the first clicks of `clicks`, as many as one statement
/// of [`statement_rows`] holds; returns how many it took, how many rows were
/// inserted and the first one's id.
///
/// `IGNORE` rather than `ON DUPLICATE KEY UPDATE id = id`: the driver sets
/// `CLIENT_FOUND_ROWS`, under which an upsert reports duplicates as affected
/// rows too, while `INSERT IGNORE` reports exactly the rows it inserted.
/// `IGNORE` would also let MySQL truncate over-long values with a warning,
/// but every value here passed `domain`'s rules, which match the columns.
async fn insert_clicks(
    txn: &impl ConnectionTrait,
    clicks: &[&StreamClick],
    token: u64,
) -> Result<(usize, Inserted), DbErr> {
    let (taken, statement) = insert_statement(clicks, token);
    let result = txn.execute_raw(statement).await?;
    Ok((
        taken,
        Inserted {
            inserted: result.rows_affected(),
            first_id: result.last_insert_id(),
        },
    ))
}

/// Columns of a row of `clicks` the insert writes.
const INSERT_COLUMNS: usize = 8;
/// Rows of the largest `INSERT`: 4,096 placeholders, and under 0.5 MB of
/// values at the longest texts `domain` allows — far below the smallest
/// `max_allowed_packet` a server ships with (MariaDB 16 MB, MySQL 8 64 MB).
const MAX_STATEMENT_ROWS: usize = 512;

/// Rows of the next `INSERT` when `remaining` are left: 512 while that many
/// remain, then the largest power of two that fits. The values are bound,
/// not written into the statement as literals, so MySQL does not parse a
/// few hundred KB of text per batch; and with only ten statement shapes,
/// each is prepared once per connection (the driver caches them) instead of
/// once per batch size. Measured (`make bench`, drain): literals cost
/// MariaDB ~0.4 CPU-s per 100k clicks more at the default batch size, and
/// binding whole batches of 5,000 prepared a 40,000-placeholder statement
/// for nearly every batch.
fn statement_rows(remaining: usize) -> usize {
    if remaining >= MAX_STATEMENT_ROWS {
        MAX_STATEMENT_ROWS
    } else {
        1 << remaining.max(1).ilog2()
    }
}

/// The `INSERT IGNORE` of the first [`statement_rows`] clicks of `clicks`
/// (at least one), and how many it holds.
fn insert_statement(clicks: &[&StreamClick], token: u64) -> (usize, Statement) {
    let taken = statement_rows(clicks.len()).min(clicks.len()).max(1);
    let mut values: Vec<Value> = Vec::with_capacity(taken * INSERT_COLUMNS);
    for entry in &clicks[..taken] {
        values.extend(row_values(
            &entry.click,
            entry.received_at.naive_utc(),
            token,
        ));
    }
    (
        taken,
        Statement::from_sql_and_values(
            DbBackend::MySql,
            insert_ignore_sql("clicks", taken),
            values,
        ),
    )
}

/// `INSERT IGNORE INTO table` (`clicks` or a table of its shape) of `rows`
/// rows of placeholders, in the order of [`row_values`].
pub(crate) fn insert_ignore_sql(table: &str, rows: usize) -> String {
    format!(
        "INSERT IGNORE INTO {table} (click_id, offer_id, source, clicked_at, click_date, \
         signature, received_at, batch_token) VALUES {}",
        vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(",")
    )
}

/// The values of one row of [`insert_ignore_sql`].
pub(crate) fn row_values(
    click: &domain::Click,
    received_at: chrono::NaiveDateTime,
    token: u64,
) -> [Value; INSERT_COLUMNS] {
    [
        Value::from(click.click_id.as_str()),
        Value::from(click.offer_id.get()),
        Value::from(click.source.as_str()),
        Value::from(click.timestamp.naive_utc()),
        Value::from(click.date()),
        Value::from(click.signature.as_str()),
        Value::from(received_at),
        Value::from(token),
    ]
}

/// What one `INSERT IGNORE` did.
#[derive(Debug, Clone, Copy)]
struct Inserted {
    /// Rows inserted.
    inserted: u64,
    /// The `id` of the first row inserted (`LAST_INSERT_ID()`).
    first_id: u64,
}

/// The clicks the `INSERT IGNORE`s of `partly_new` inserted, read back by
/// primary key in one query. A multi-row `INSERT` is a "simple insert":
/// InnoDB reserves its auto-increment values at once, one per row, ignored
/// rows included — consecutive in lock modes 0 and 1 (MariaDB's default),
/// and in mode 2 (MySQL 8's) gaps are documented only for bulk inserts. So
/// each statement's inserted rows lie in `first_id ..first_id + rows` and
/// carry this attempt's token, and range scans find them for far less than
/// looking each `click_id` up in its index. Should the ids not be
/// consecutive after all, the rows found fall short of what the inserts
/// reported: `None`, and the caller looks them up by `click_id`.
async fn fresh_in_id_ranges<'a>(
    txn: &impl ConnectionTrait,
    partly_new: &[(&[&'a StreamClick], Inserted)],
    token: u64,
) -> Result<Option<Vec<&'a StreamClick>>, DbErr> {
    let ranges = vec!["id BETWEEN ? AND ?"; partly_new.len()].join(" OR ");
    let mut values: Vec<Value> = vec![token.into()];
    for (chunk, insert) in partly_new {
        values.push(insert.first_id.into());
        values.push((insert.first_id + chunk.len() as u64 - 1).into());
    }
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!("SELECT click_id FROM clicks WHERE batch_token = ? AND ({ranges})"),
            values,
        ))
        .await?;
    let inserted: u64 = partly_new.iter().map(|(_, insert)| insert.inserted).sum();
    if rows.len() as u64 != inserted {
        return Ok(None);
    }
    let by_id: std::collections::HashMap<&str, &'a StreamClick> = partly_new
        .iter()
        .flat_map(|(chunk, _)| chunk.iter())
        .map(|entry| (entry.click.click_id.as_str(), *entry))
        .collect();
    let mut fresh = Vec::with_capacity(rows.len());
    for row in &rows {
        let click_id: String = row.try_get("", "click_id")?;
        match by_id.get(click_id.as_str()) {
            Some(entry) => fresh.push(*entry),
            None => return Ok(None),
        }
    }
    Ok(Some(fresh))
}

/// The rows of `clicks` this attempt inserted (those carrying its token),
/// counted per group: one lookup through the `click_id` unique index.
async fn lookup_fresh(
    txn: &impl ConnectionTrait,
    clicks: &[&StreamClick],
    token: u64,
) -> Result<Vec<(Group, i64)>, DbErr> {
    let placeholders = vec!["?"; clicks.len()].join(",");
    let mut values: Vec<Value> = Vec::with_capacity(clicks.len() + 1);
    values.push(token.into());
    values.extend(
        clicks
            .iter()
            .map(|c| Value::from(c.click.click_id.as_str())),
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!(
                "SELECT click_date, HOUR(clicked_at) AS utc_hour, offer_id, source, COUNT(*) AS n \
                 FROM clicks \
                 WHERE batch_token = ? AND click_id IN ({placeholders}) \
                 GROUP BY click_date, HOUR(clicked_at), offer_id, source"
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let date: NaiveDate = row.try_get("", "click_date")?;
            let hour: i64 = row.try_get("", "utc_hour")?;
            let hour_start = u32::try_from(hour)
                .ok()
                .and_then(|hour| date.and_hms_opt(hour, 0, 0))
                .ok_or_else(|| DbErr::Custom(format!("MySQL returned hour {hour}")))?;
            let offer_id: u64 = row.try_get("", "offer_id")?;
            let source: String = row.try_get("", "source")?;
            let count: i64 = row.try_get("", "n")?;
            Ok(((date, hour_start, offer_id, source), count))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_come_in_ten_shapes_that_cover_any_batch() {
        let mut shapes = HashSet::new();
        for batch in 1..=5_000 {
            let mut left = batch;
            while left > 0 {
                let rows = statement_rows(left);
                assert!(rows >= 1 && rows <= left && rows <= MAX_STATEMENT_ROWS);
                shapes.insert(rows);
                left -= rows;
            }
        }
        assert_eq!(shapes.len(), 10, "{shapes:?}");
        // A full default batch: 512 + 256 + 128 + 64 + 32 + 8.
        let click = |n: usize| StreamClick {
            click: domain::Click {
                click_id: format!("{n:08}"),
                offer_id: domain::OfferId::new(7).expect("positive"),
                source: "network_1".to_owned(),
                timestamp: chrono::DateTime::UNIX_EPOCH,
                signature: "s".to_owned(),
            },
            received_at: chrono::DateTime::UNIX_EPOCH,
        };
        let clicks: Vec<StreamClick> = (0..1_000).map(click).collect();
        let mut rest: Vec<&StreamClick> = clicks.iter().collect();
        let mut taken = Vec::new();
        while !rest.is_empty() {
            let (rows, statement) = insert_statement(&rest, 1);
            let placeholders = statement.values.map_or(0, |values| values.0.len());
            assert_eq!(placeholders, rows * INSERT_COLUMNS);
            taken.push(rows);
            rest.drain(..rows);
        }
        assert_eq!(taken, [512, 256, 128, 64, 32, 8]);
    }
}
