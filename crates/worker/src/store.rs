//! Writing a batch of clicks and their aggregates to MySQL, exactly once.
//!
//! One transaction per batch:
//!
//! 1. insert the batch's clicks, skipping any `click_id` already stored
//!    (`INSERT IGNORE`), each row tagged with a random token of this attempt;
//! 2. add to each (date, offer, source), (hour, offer, source), (date,
//!    offer) and (date, source) aggregate exactly the clicks this transaction
//!    inserted — all of the batch when the insert reports every row as new,
//!    otherwise the rows that carry this attempt's token, whatever other
//!    workers or earlier attempts stored — and bump the report version of
//!    each date touched;
//! 3. commit.
//!
//! The statements carry their values as literals ([`SqlText`]), not bound
//! parameters: their row counts change from batch to batch, so prepared
//! statements would be prepared anew for nearly every batch.
//!
//! A redelivered batch (a worker died between commit and `XACK`), a retry
//! after a lost connection whose commit did in fact succeed, or the same
//! click sent twice all insert nothing the second time, so they add nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use domain::StreamClick;
use rand::Rng;
use sea_orm::sea_query::Value;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, IsolationLevel, Statement,
    TransactionTrait,
};

/// MySQL accepts at most 65,535 placeholders in one statement.
const MAX_PLACEHOLDERS: usize = 65_535;
/// `click_id`s per lookup (one placeholder each, plus the token).
const MAX_IDS_PER_LOOKUP: usize = MAX_PLACEHOLDERS - 1;
/// Most statement text per `INSERT` of clicks: far below the smallest
/// `max_allowed_packet` a server ships with (MariaDB 16 MB, MySQL 8 64 MB),
/// whatever the batch size and the length of the clicks' text.
const MAX_INSERT_BYTES: usize = 4 << 20;

/// What one committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Clicks newly inserted (and counted).
    pub inserted: u64,
    /// Clicks of the batch that were already stored, or repeated in it.
    pub duplicates: u64,
}

/// New clicks per (UTC date, UTC hour start, offer, source).
type Groups = BTreeMap<(NaiveDate, NaiveDateTime, u64, String), i64>;

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
    let mut groups = Groups::new();
    let mut rest = unique.as_slice();
    while !rest.is_empty() {
        let (taken, inserted) = insert_clicks(&txn, rest, token).await?;
        let (chunk, tail) = rest.split_at(taken);
        rest = tail;
        if inserted == chunk.len() as u64 {
            // Every click of the chunk was new: count them as they are.
            for entry in chunk {
                *groups.entry(group_of(entry)).or_default() += 1;
            }
        } else if inserted > 0 {
            // Some were stored before: count exactly the rows carrying this
            // attempt's token.
            for ids in chunk.chunks(MAX_IDS_PER_LOOKUP) {
                for (key, count) in lookup_fresh(&txn, ids, token).await? {
                    *groups.entry(key).or_default() += count;
                }
            }
        }
    }
    let inserted: i64 = groups.values().sum();
    if inserted > 0 {
        add_to_aggregates(&txn, groups).await?;
    }
    txn.commit().await?;
    let inserted = u64::try_from(inserted).unwrap_or(0);
    Ok(Stored {
        inserted,
        duplicates: clicks.len() as u64 - inserted,
    })
}

/// `INSERT IGNORE`s the first clicks of `clicks`, as many as fit in
/// [`MAX_INSERT_BYTES`] of statement text (at least one); returns how many it
/// took and how many rows were inserted.
///
/// `IGNORE` rather than `ON DUPLICATE KEY UPDATE id = id`: the driver sets
/// `CLIENT_FOUND_ROWS`, under which an upsert reports duplicates as affected
/// rows too, while `INSERT IGNORE` reports exactly the rows it inserted.
/// `IGNORE` would also let MySQL truncate over-long values with a warning,
/// but every value here passed `domain`'s rules, which match the columns.
///
/// Literal values rather than bound ones, as in [`upsert_counts`]: batches
/// come in every size, and each new size would be a statement to prepare.
async fn insert_clicks(
    txn: &impl ConnectionTrait,
    clicks: &[&StreamClick],
    token: u64,
) -> Result<(usize, u64), DbErr> {
    let (taken, sql) = insert_statement(clicks, token);
    let result = txn.execute_unprepared(sql.as_str()).await?;
    Ok((taken, result.rows_affected()))
}

/// The `INSERT IGNORE` of the first clicks of `clicks` that fit in
/// [`MAX_INSERT_BYTES`] (at least one), and how many it holds.
fn insert_statement(clicks: &[&StreamClick], token: u64) -> (usize, SqlText) {
    let mut sql = SqlText::with_capacity(MAX_INSERT_BYTES.min(256 + clicks.len() * 256));
    sql.raw(
        "INSERT IGNORE INTO clicks (click_id, offer_id, source, clicked_at, click_date, \
         signature, received_at, batch_token) VALUES ",
    );
    let mut taken = 0;
    for entry in clicks {
        if taken > 0 && sql.len() >= MAX_INSERT_BYTES {
            break;
        }
        if taken > 0 {
            sql.comma();
        }
        let click = &entry.click;
        sql.raw("(")
            .text(&click.click_id)
            .comma()
            .int(click.offer_id.get())
            .comma()
            .text(&click.source)
            .comma()
            .datetime(click.timestamp.naive_utc())
            .comma()
            .date(click.date())
            .comma()
            .text(&click.signature)
            .comma()
            .datetime(entry.received_at.naive_utc())
            .comma()
            .int(token)
            .raw(")");
        taken += 1;
    }
    (taken, sql)
}

fn group_of(entry: &StreamClick) -> (NaiveDate, NaiveDateTime, u64, String) {
    let click = &entry.click;
    let date = click.date();
    let hour = click.timestamp.hour();
    let hour_start = date
        .and_hms_opt(hour, 0, 0)
        .unwrap_or_else(|| date.and_time(NaiveTime::MIN));
    (date, hour_start, click.offer_id.get(), click.source.clone())
}

/// The rows of `clicks` this attempt inserted (those carrying its token),
/// counted per group: one lookup through the `click_id` unique index.
async fn lookup_fresh(
    txn: &impl ConnectionTrait,
    clicks: &[&StreamClick],
    token: u64,
) -> Result<Vec<((NaiveDate, NaiveDateTime, u64, String), i64)>, DbErr> {
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
                "SELECT click_date, HOUR(clicked_at), offer_id, source, COUNT(*) FROM clicks \
                 WHERE batch_token = ? AND click_id IN ({placeholders}) \
                 GROUP BY click_date, HOUR(clicked_at), offer_id, source"
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let date: NaiveDate = row.try_get_by_index(0)?;
            let hour: i64 = row.try_get_by_index(1)?;
            let hour_start = u32::try_from(hour)
                .ok()
                .and_then(|hour| date.and_hms_opt(hour, 0, 0))
                .ok_or_else(|| DbErr::Custom(format!("MySQL returned hour {hour}")))?;
            let offer_id: u64 = row.try_get_by_index(2)?;
            let source: String = row.try_get_by_index(3)?;
            let count: i64 = row.try_get_by_index(4)?;
            Ok(((date, hour_start, offer_id, source), count))
        })
        .collect()
}

/// Adds the new clicks to the daily, hourly and per-dimension aggregates and
/// bumps the report version of each date they touch. The version bump comes
/// last, so the hot row of today's date is locked only until the commit
/// right after it.
async fn add_to_aggregates(txn: &impl ConnectionTrait, groups: Groups) -> Result<(), DbErr> {
    let mut daily: BTreeMap<(NaiveDate, u64, &str), i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(NaiveDateTime, u64, &str), i64> = BTreeMap::new();
    let mut by_offer: BTreeMap<(NaiveDate, u64), i64> = BTreeMap::new();
    let mut by_source: BTreeMap<(NaiveDate, &str), i64> = BTreeMap::new();
    for ((date, hour, offer_id, source), count) in &groups {
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

/// Statement text with values written in as literals that cannot be read as
/// anything but the value, whatever the server's `sql_mode`: integers as
/// digits, dates and times as quoted digits, text as a hex literal with a
/// character set introducer (`_utf8mb4 X'…'`, no quoting or escaping rules
/// involved). MySQL 8 and MariaDB read all three the same way.
#[derive(Debug)]
struct SqlText(String);

impl SqlText {
    fn with_capacity(capacity: usize) -> Self {
        Self(String::with_capacity(capacity))
    }

    fn raw(&mut self, sql: &str) -> &mut Self {
        self.0.push_str(sql);
        self
    }

    fn comma(&mut self) -> &mut Self {
        self.raw(",")
    }

    fn int(&mut self, value: impl itoa::Integer) -> &mut Self {
        self.raw(itoa::Buffer::new().format(value))
    }

    /// `'YYYY-MM-DD'`, written by hand: `chrono`'s `format` parses its
    /// pattern on every call, which cost a sixth of the worker's CPU here.
    fn date(&mut self, date: NaiveDate) -> &mut Self {
        self.0.push('\'');
        self.push_date(date);
        self.0.push('\'');
        self
    }

    /// `'YYYY-MM-DD hh:mm:ss.ffffff'`.
    fn datetime(&mut self, time: NaiveDateTime) -> &mut Self {
        self.0.push('\'');
        self.push_date(time.date());
        self.0.push(' ');
        self.digits(time.hour(), 2);
        self.0.push(':');
        self.digits(time.minute(), 2);
        self.0.push(':');
        self.digits(time.second(), 2);
        self.0.push('.');
        // A leap second's nanoseconds pass 10⁹; MySQL has no leap seconds.
        self.digits(time.nanosecond().min(999_999_999) / 1_000, 6);
        self.0.push('\'');
        self
    }

    fn push_date(&mut self, date: NaiveDate) {
        // Click dates are validated to years 1000–9999, MySQL's range.
        let year = u32::try_from(date.year()).unwrap_or(0);
        self.digits(year, 4);
        self.0.push('-');
        self.digits(date.month(), 2);
        self.0.push('-');
        self.digits(date.day(), 2);
    }

    /// `value` in decimal, zero-padded to `width` digits.
    fn digits(&mut self, value: u32, width: u32) {
        let mut divisor = 10_u32.pow(width - 1);
        while divisor > 0 {
            self.0.push(char::from(b'0' + (value / divisor % 10) as u8));
            divisor /= 10;
        }
    }

    fn text(&mut self, text: &str) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        self.0.reserve(12 + text.len() * 2);
        self.0.push_str("_utf8mb4 X'");
        for byte in text.bytes() {
            self.0.push(char::from(HEX[usize::from(byte >> 4)]));
            self.0.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        self.0.push('\'');
        self
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn as_str(&self) -> &str {
        &self.0
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_digits_quoted_times_and_hex_text() {
        let date = NaiveDate::from_ymd_opt(1000, 1, 2).expect("date");
        let time = NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
            .expect("time");
        let mut sql = SqlText::with_capacity(0);
        sql.int(u64::MAX)
            .comma()
            .int(-7_i64)
            .comma()
            .date(date)
            .comma()
            .datetime(time)
            .comma()
            .datetime(date.and_time(NaiveTime::MIN))
            .comma()
            .text("a'\\é")
            .comma()
            .text("");
        assert_eq!(
            sql.as_str(),
            "18446744073709551615,-7,'1000-01-02','9999-12-31 23:59:59.999999',\
             '1000-01-02 00:00:00.000000',_utf8mb4 X'61275CC3A9',_utf8mb4 X''"
        );
    }

    #[test]
    fn an_insert_stops_at_its_size_limit_and_the_rest_follows() {
        let click = |n: usize| StreamClick {
            click: domain::Click {
                click_id: format!("{n:08}-{}", "i".repeat(246)),
                offer_id: domain::OfferId::new(7).expect("positive"),
                source: "network_1".to_owned(),
                timestamp: chrono::DateTime::UNIX_EPOCH,
                signature: "s".repeat(255),
            },
            received_at: chrono::DateTime::UNIX_EPOCH,
        };
        let clicks: Vec<StreamClick> = (0..5_000).map(click).collect();
        let clicks: Vec<&StreamClick> = clicks.iter().collect();
        let (first, sql) = insert_statement(&clicks, 1);
        assert!(first > 0 && first < clicks.len(), "took {first}");
        assert!(sql.len() < MAX_INSERT_BYTES + 2_048, "{} bytes", sql.len());
        let (second, sql) = insert_statement(&clicks[first..], 1);
        assert_eq!(first + second, clicks.len());
        assert!(sql.len() < MAX_INSERT_BYTES);
        // A single click always goes, whatever its size.
        assert_eq!(insert_statement(&clicks[..1], 1).0, 1);
    }
}
