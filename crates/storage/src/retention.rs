//! Retention of the raw clicks (`CLICKS_RETENTION_DAYS`): which old dates may
//! go, and deleting them in bounded batches. The aggregates are never
//! touched, so every report stays as it was.
//!
//! A date may go only when its export to Finance completed and no click
//! of it arrived after that export (such clicks still have `export_chunk =
//! 0`). Each batch is one short autocommitted `DELETE … ORDER BY id LIMIT n`
//! over the `(click_date, id)` index, and it deletes only exported clicks
//! (`export_chunk > 0`), so a click that arrives while a date is being
//! deleted is kept. A run that is killed leaves whole batches done and the
//! rest for the next run.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// What retention decides about one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Exported completely: its raw clicks may go.
    Delete,
    /// No completed export of the date.
    KeptNotExported,
    /// Clicks of the date arrived after its last export (this many).
    KeptClicksAfterExport(u64),
}

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

/// The dates before `before` that still have raw clicks, oldest first.
pub async fn dates_before(
    db: &impl ConnectionTrait,
    before: NaiveDate,
) -> Result<Vec<NaiveDate>, DbErr> {
    db.query_all_raw(statement(
        "SELECT DISTINCT click_date FROM clicks WHERE click_date < ? ORDER BY click_date",
        vec![before.into()],
    ))
    .await?
    .iter()
    .map(|row| row.try_get("", "click_date"))
    .collect()
}

/// Whether `date`'s raw clicks may go; `completed` is the export record's
/// state of a finished export.
pub async fn judge(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    completed: &str,
) -> Result<Verdict, DbErr> {
    let exported = count(
        db,
        "SELECT COUNT(*) AS n FROM click_exports WHERE export_date = ? AND state = ?",
        vec![date.into(), completed.into()],
    )
    .await?;
    if exported == 0 {
        return Ok(Verdict::KeptNotExported);
    }
    let late = count(
        db,
        "SELECT COUNT(*) AS n FROM clicks WHERE click_date = ? AND export_chunk = 0",
        vec![date.into()],
    )
    .await?;
    Ok(if late > 0 {
        Verdict::KeptClicksAfterExport(late)
    } else {
        Verdict::Delete
    })
}

/// Raw clicks of `date`.
pub async fn clicks_of(db: &impl ConnectionTrait, date: NaiveDate) -> Result<u64, DbErr> {
    count(
        db,
        "SELECT COUNT(*) AS n FROM clicks WHERE click_date = ?",
        vec![date.into()],
    )
    .await
}

/// The `COUNT(*) AS n` a statement answers.
async fn count(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    let count: i64 = db
        .query_one_raw(statement(sql, values))
        .await?
        .map(|row| row.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Deletes at most `limit` exported clicks of `date`, lowest ids first, in
/// one statement; returns how many went (0: the date is done).
pub async fn delete_batch(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    limit: u64,
) -> Result<u64, DbErr> {
    Ok(db
        .execute_raw(statement(
            "DELETE FROM clicks WHERE click_date = ? AND export_chunk > 0 ORDER BY id LIMIT ?",
            vec![date.into(), limit.into()],
        ))
        .await?
        .rows_affected())
}
