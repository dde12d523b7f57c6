//! The `click_exports` row of a date: what the status shows, and the lease
//! that lets one exporter at a time — API or cron, any process — work on it.
//!
//! Taking the lease is one conditional `UPDATE` (the row is running with an
//! unexpired lease, or it is not taken); every later write names the lease
//! owner and fails when someone else holds it. A crashed exporter's lease
//! simply runs out. Plain `UPDATE … WHERE` and `UTC_TIMESTAMP(6)`: the same
//! on MySQL 8 and MariaDB.

use crate::entity::click_export;
use chrono::NaiveDate;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, IsolationLevel,
    Statement, TransactionTrait, Value,
};

pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";

/// The right to export one date, until `seconds` after the last write.
#[derive(Debug, Clone)]
pub struct Lease {
    pub date: NaiveDate,
    pub owner: String,
    pub seconds: u64,
}

/// Someone else took the lease (it had run out while we were stalled).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the export lease of this date was lost")]
    LeaseLost,
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

pub async fn load(
    db: &impl ConnectionTrait,
    date: NaiveDate,
) -> Result<Option<click_export::Model>, DbErr> {
    click_export::Entity::find_by_id(date).one(db).await
}

/// Takes the lease of `lease.date` and starts a run (state `running`,
/// attempts + 1); the record as it is then, or `None` when another exporter
/// holds an unexpired lease.
pub async fn acquire(
    db: &DatabaseConnection,
    lease: &Lease,
) -> Result<Option<click_export::Model>, DbErr> {
    let taken = db
        .execute_raw(statement(
            "UPDATE click_exports SET state = ?, lease_owner = ?, \
             lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, \
             attempts = attempts + 1, last_error = NULL, \
             started_at = UTC_TIMESTAMP(6), finished_at = NULL, updated_at = UTC_TIMESTAMP(6) \
             WHERE export_date = ? \
             AND (state <> ? OR lease_expires_at IS NULL OR lease_expires_at < UTC_TIMESTAMP(6))",
            [
                RUNNING.into(),
                lease.owner.as_str().into(),
                lease.seconds.into(),
                lease.date.into(),
                RUNNING.into(),
            ],
        ))
        .await?;
    if taken.rows_affected() != 1 {
        // No record yet, or one held by someone else: of two exporters
        // inserting the first record, the primary key lets one win.
        let inserted = db
            .execute_raw(statement(
                "INSERT IGNORE INTO click_exports \
                 (export_date, state, lease_owner, lease_expires_at, attempts, started_at, updated_at) \
                 VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? SECOND, 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                [
                    lease.date.into(),
                    RUNNING.into(),
                    lease.owner.as_str().into(),
                    lease.seconds.into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() != 1 {
            return Ok(None);
        }
    }
    load(db, lease.date).await
}

/// Records the date's current total and extends the lease.
pub async fn note_total(
    db: &DatabaseConnection,
    lease: &Lease,
    total: u64,
) -> Result<(), RecordError> {
    let updated = db
        .execute_raw(statement(
            "UPDATE click_exports SET total_clicks = ?, \
             lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, updated_at = UTC_TIMESTAMP(6) \
             WHERE export_date = ? AND lease_owner = ?",
            [total.into(), lease.seconds.into(), lease.date.into(), lease.owner.as_str().into()],
        ))
        .await?;
    held(updated.rows_affected())
}

/// A chunk about to be sent: its number, the ids of its rows (ascending) and
/// the day's total it is sent with.
pub struct NewChunk<'a> {
    pub number: u32,
    pub ids: &'a [u64],
    pub total_clicks: u64,
}

/// Puts the rows in chunk `chunk.number` and records it as pending, in one
/// transaction; extends the lease.
pub async fn assign(
    db: &DatabaseConnection,
    lease: &Lease,
    chunk: &NewChunk<'_>,
) -> Result<(), RecordError> {
    let (Some(&first), Some(&last)) = (chunk.ids.first(), chunk.ids.last()) else {
        return Ok(());
    };
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::ReadCommitted),
            Some(AccessMode::ReadWrite),
        )
        .await?;
    let updated = txn
        .execute_raw(statement(
            "UPDATE click_exports SET pending_chunk = ?, pending_first_id = ?, \
             pending_last_id = ?, pending_clicks = ?, pending_total = ?, total_clicks = ?, \
             lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, updated_at = UTC_TIMESTAMP(6) \
             WHERE export_date = ? AND lease_owner = ?",
            [
                chunk.number.into(),
                first.into(),
                last.into(),
                (chunk.ids.len() as u64).into(),
                chunk.total_clicks.into(),
                chunk.total_clicks.into(),
                lease.seconds.into(),
                lease.date.into(),
                lease.owner.as_str().into(),
            ],
        ))
        .await?;
    held(updated.rows_affected())?;
    // Ids come from our own table as integers: written inline, one short
    // statement instead of thousands of bound parameters.
    let mut sql = String::with_capacity(80 + chunk.ids.len() * 12);
    sql.push_str("UPDATE clicks SET export_chunk = ");
    sql.push_str(&chunk.number.to_string());
    sql.push_str(" WHERE export_chunk = 0 AND id IN (");
    for (i, id) in chunk.ids.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&id.to_string());
    }
    sql.push(')');
    let marked = txn.execute_unprepared(&sql).await?;
    if marked.rows_affected() != chunk.ids.len() as u64 {
        // Another exporter got there first: only possible if our lease ran out.
        txn.rollback().await?;
        return Err(RecordError::LeaseLost);
    }
    txn.commit().await?;
    Ok(())
}

/// Finance took chunk `number` of `clicks` clicks.
pub async fn acknowledge(
    db: &DatabaseConnection,
    lease: &Lease,
    number: u32,
    clicks: u64,
) -> Result<(), RecordError> {
    let updated = db
        .execute_raw(statement(
            "UPDATE click_exports SET chunks_sent = ?, clicks_sent = clicks_sent + ?, \
             pending_chunk = 0, pending_first_id = 0, pending_last_id = 0, pending_clicks = 0, \
             pending_total = 0, \
             lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, updated_at = UTC_TIMESTAMP(6) \
             WHERE export_date = ? AND lease_owner = ? AND pending_chunk = ?",
            [
                number.into(),
                clicks.into(),
                lease.seconds.into(),
                lease.date.into(),
                lease.owner.as_str().into(),
                number.into(),
            ],
        ))
        .await?;
    held(updated.rows_affected())
}

/// Ends the run: `completed`, or `failed` with why; releases the lease.
pub async fn finish(
    db: &DatabaseConnection,
    lease: &Lease,
    error: Option<&str>,
) -> Result<(), RecordError> {
    let state = if error.is_some() { FAILED } else { COMPLETED };
    let updated = db
        .execute_raw(statement(
            "UPDATE click_exports SET state = ?, last_error = ?, finished_at = UTC_TIMESTAMP(6), \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = UTC_TIMESTAMP(6) \
             WHERE export_date = ? AND lease_owner = ?",
            [
                state.into(),
                error.map(str::to_owned).into(),
                lease.date.into(),
                lease.owner.as_str().into(),
            ],
        ))
        .await?;
    held(updated.rows_affected())
}

fn held(rows_affected: u64) -> Result<(), RecordError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(RecordError::LeaseLost)
    }
}
