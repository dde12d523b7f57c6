//! What the tables hold, read (and planted, and emptied) for checks rather
//! than by the service: the tests, the bench and the chaos suite count,
//! probe, seed and walk the tables through these, never through SQL of their
//! own.
//!
//! - `clicks`: the stored clicks — counts, lookups, walks, and raw clicks
//!   seeded or deleted with nothing counted;
//! - `aggregates`: the aggregate tables and the date versions — totals,
//!   single rows, groups, and a disagreeing row planted for the audit to find;
//! - `export`: the Finance export's records, as a crashed exporter leaves them.
//!
//! Everything is re-exported here, so callers name `storage::inspect::…`.

mod aggregates;
mod clicks;
mod export;

pub use aggregates::{
    AggregateRow, SourceTotals, add_to_one_aggregate_table, analyze_aggregates,
    click_dates_without_version, click_groups, clicks_and_daily_total, counted_total, daily_count,
    daily_rows, daily_rows_counting, daily_total, date_version, source_totals,
};
pub use clicks::{
    BatchTokens, batch_tokens, click_ids_after, clicks_count, clicks_with_id, delete_clicks_of,
    distinct_click_ids, insert_clicks_with_ids, load_uncounted_clicks, stored_click,
    stored_click_ids,
};
pub use export::expire_export_leases;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value,
};

/// Every table the worker writes, in the order they are emptied.
const TABLES: [&str; 7] = [
    "clicks",
    "click_daily_stats",
    "click_hourly_stats",
    "click_daily_offer_stats",
    "click_daily_source_stats",
    "report_date_versions",
    "aggregate_deltas",
];

/// Empties the clicks and every aggregate (only while no worker runs). A
/// table the database lacks (made by an older build's migrations) is
/// skipped.
pub async fn empty_all(db: &DatabaseConnection) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Table {
        name: String,
    }
    let present: Vec<String> = Table::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE()",
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|table| table.name)
    .collect();
    for table in TABLES {
        if present.iter().any(|name| name == table) {
            db.execute_unprepared(&format!("TRUNCATE TABLE {table}"))
                .await?;
        }
    }
    Ok(())
}

/// The server's pid file (`@@pid_file`), to find its process on this
/// machine.
pub async fn server_pid_file(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    #[derive(FromQueryResult)]
    struct PidFile {
        path: String,
    }
    PidFile::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        "SELECT @@pid_file AS path",
    ))
    .one(db)
    .await?
    .map(|file| file.path)
    .ok_or_else(|| DbErr::RecordNotFound("@@pid_file".to_owned()))
}

/// The number `sql` selects as `n` (0 for `NULL`, as `MAX` over no rows
/// gives), with `values` bound to its placeholders.
async fn count(
    db: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<u64, DbErr> {
    Ok(optional_count(db, sql, values).await?.unwrap_or(0))
}

/// The number `sql` selects as `n`: `None` when it selects no row or `NULL`.
async fn optional_count(
    db: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Option<u64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        n: Option<i64>,
    }
    Ok(Count::find_by_statement(Statement::from_sql_and_values(
        DbBackend::MySql,
        sql,
        values,
    ))
    .one(db)
    .await?
    .and_then(|count| count.n)
    .map(unsigned))
}

/// A count read as `SIGNED` (what `COUNT` and a `CAST` give), which is
/// never negative.
fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
