//! One chunk of a date's clicks: the bytes and `Idempotency-Key` Finance
//! receives for it (its rows are read by `storage::export::rows`).
//!
//! The export walks a date by the `(click_date, id)` index (keyset, never
//! `OFFSET`), taking rows not yet put in a chunk (`export_chunk = 0`). Once
//! a row is in chunk `n` it stays there, so chunk `n` of a date has the same
//! rows — and, sent with the `total_clicks` recorded for it, the same bytes
//! and key — however often it is re-sent.

use bytes::Bytes;
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use storage::export::rows::{ExportRow, count_clicks, next_unassigned, rows_of_chunk};

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
