//! Reading a date's clicks for the Finance export: walked by the
//! `(click_date, id)` index (keyset, never `OFFSET`), taking rows not yet put
//! in a chunk (`export_chunk = 0`); once a row is in chunk `n` it stays
//! there, so chunk `n` of a date reads back the same rows however often it
//! is re-sent.

use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

/// One click as read for Finance.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ExportRow {
    pub id: u64,
    pub click_id: String,
    pub offer_id: u64,
    pub source: String,
    pub clicked_at: NaiveDateTime,
    pub signature: String,
}

const COLUMNS: &str = "id, click_id, offer_id, source, clicked_at, signature";
/// The export's walk over one date; named so that neither server prefers
/// the primary key for `ORDER BY id LIMIT n`.
const DATE_INDEX: &str = "idx_clicks_click_date_id";

/// The date's clicks now (covered by the `(click_date, id)` index).
pub async fn count_clicks(db: &impl ConnectionTrait, date: NaiveDate) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT COUNT(*) AS n FROM clicks WHERE click_date = ?",
            [date.into()],
        ))
        .await?;
    let count: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Up to `limit` rows of `date` not in any chunk yet, with `id > after`, by id.
pub async fn next_unassigned(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    after: u64,
    limit: u32,
) -> Result<Vec<ExportRow>, DbErr> {
    select(
        db,
        "click_date = ? AND id > ? AND export_chunk = 0 ORDER BY id LIMIT ?",
        [date.into(), after.into(), limit.into()],
    )
    .await
}

/// The rows of chunk `chunk` of `date`, which lie between `first` and `last`.
pub async fn rows_of_chunk(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    chunk: u32,
    first: u64,
    last: u64,
) -> Result<Vec<ExportRow>, DbErr> {
    select(
        db,
        "click_date = ? AND id BETWEEN ? AND ? AND export_chunk = ? ORDER BY id",
        [date.into(), first.into(), last.into(), chunk.into()],
    )
    .await
}

/// The export's columns of the rows of `clicks` matching `condition`,
/// walked by the date index.
async fn select<const N: usize>(
    db: &impl ConnectionTrait,
    condition: &str,
    values: [Value; N],
) -> Result<Vec<ExportRow>, DbErr> {
    ExportRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::MySql,
        format!("SELECT {COLUMNS} FROM clicks FORCE INDEX ({DATE_INDEX}) WHERE {condition}"),
        values,
    ))
    .all(db)
    .await
}
