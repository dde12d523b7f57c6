//! One chunk of a date's clicks: reading it from `clicks`, and the bytes and
//! `Idempotency-Key` Finance receives for it.
//!
//! The export walks a date by the `(click_date, id)` index (keyset, never
//! `OFFSET`), taking rows not yet put in a chunk (`export_chunk = 0`). Once
//! a row is in chunk `n` it stays there, so chunk `n` of a date has the same
//! rows — and, sent with the `total_clicks` recorded for it, the same bytes
//! and key — however often it is re-sent.

use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One click as read for Finance.
#[derive(Debug, Clone)]
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

fn row(result: &QueryResult) -> Result<ExportRow, DbErr> {
    Ok(ExportRow {
        id: result.try_get_by_index(0)?,
        click_id: result.try_get_by_index(1)?,
        offer_id: result.try_get_by_index(2)?,
        source: result.try_get_by_index(3)?,
        clicked_at: result.try_get_by_index(4)?,
        signature: result.try_get_by_index(5)?,
    })
}

/// The date's clicks now (covered by the `(click_date, id)` index).
pub async fn count_clicks(db: &impl ConnectionTrait, date: NaiveDate) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT COUNT(*) FROM clicks WHERE click_date = ?",
            [date.into()],
        ))
        .await?;
    let count: i64 = match row {
        Some(row) => row.try_get_by_index(0)?,
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
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!(
                "SELECT {COLUMNS} FROM clicks FORCE INDEX ({DATE_INDEX}) \
                 WHERE click_date = ? AND id > ? AND export_chunk = 0 \
                 ORDER BY id LIMIT ?"
            ),
            [date.into(), after.into(), limit.into()],
        ))
        .await?;
    rows.iter().map(row).collect()
}

/// The rows of chunk `chunk` of `date`, which lie between `first` and `last`.
pub async fn rows_of_chunk(
    db: &impl ConnectionTrait,
    date: NaiveDate,
    chunk: u32,
    first: u64,
    last: u64,
) -> Result<Vec<ExportRow>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!(
                "SELECT {COLUMNS} FROM clicks FORCE INDEX ({DATE_INDEX}) \
                 WHERE click_date = ? AND id BETWEEN ? AND ? AND export_chunk = ? \
                 ORDER BY id"
            ),
            [date.into(), first.into(), last.into(), chunk.into()],
        ))
        .await?;
    rows.iter().map(row).collect()
}

#[derive(Serialize)]
struct Payload<'a> {
    date: String,
    total_clicks: u64,
    clicks: Vec<FinanceClick<'a>>,
}

#[derive(Serialize)]
struct FinanceClick<'a> {
    click_id: &'a str,
    offer_id: u64,
    source: &'a str,
    timestamp: String,
    signature: &'a str,
}

/// The contract: Export to Finance body for these rows.
pub fn body(date: NaiveDate, total_clicks: u64, rows: &[ExportRow]) -> Bytes {
    let payload = Payload {
        date: date.format("%Y-%m-%d").to_string(),
        total_clicks,
        clicks: rows
            .iter()
            .map(|row| FinanceClick {
                click_id: &row.click_id,
                offer_id: row.offer_id,
                source: &row.source,
                timestamp: domain::click::format_timestamp(row.clicked_at.and_utc()),
                signature: &row.signature,
            })
            .collect(),
    };
    // ~150 bytes a click; one allocation for the usual case.
    let mut buffer = Vec::with_capacity(64 + rows.len() * 160);
    // Serialising plain strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut buffer, &payload).is_err() {
        buffer.clear();
    }
    Bytes::from(buffer)
}

/// Derived from the date, the chunk number and the exact bytes: the same for
/// every retry and every re-send of the chunk, different for anything else.
pub fn idempotency_key(date: NaiveDate, chunk: u32, body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!(
        "clicks-{}-{chunk:06}-{}",
        date.format("%Y%m%d"),
        hex::encode(&digest[..12])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<ExportRow> {
        vec![ExportRow {
            id: 7,
            click_id: "c-1".into(),
            offer_id: 42,
            source: "net".into(),
            clicked_at: NaiveDate::from_ymd_opt(2025, 6, 11)
                .and_then(|d| d.and_hms_micro_opt(14, 0, 0, 5))
                .expect("valid"),
            signature: "sig".into(),
        }]
    }

    #[test]
    fn the_body_has_the_contract_shape() {
        let date = NaiveDate::from_ymd_opt(2025, 6, 11).expect("date");
        let body = body(date, 3, &sample());
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"date": "2025-06-11", "total_clicks": 3, "clicks": [{
                "click_id": "c-1", "offer_id": 42, "source": "net",
                "timestamp": "2025-06-11T14:00:00.000005Z", "signature": "sig"}]})
        );
    }

    #[test]
    fn the_key_follows_the_content() {
        let date = NaiveDate::from_ymd_opt(2025, 6, 11).expect("date");
        let a = body(date, 3, &sample());
        assert_eq!(idempotency_key(date, 1, &a), idempotency_key(date, 1, &a));
        assert_ne!(idempotency_key(date, 1, &a), idempotency_key(date, 2, &a));
        let b = body(date, 4, &sample());
        assert_ne!(idempotency_key(date, 1, &a), idempotency_key(date, 1, &b));
    }
}
