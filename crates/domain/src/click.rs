//! The click, and every validation rule of the webhook contract (contract: Webhooks).
//!
//! Parsing goes through a permissive raw shape first so that every field can
//! be judged on its own and each invalid one reported with its reason, the way
//! existing senders expect (`{"<field>": ["<reason>"]}`).
//!
//! The body's shapes and their reading are in `parse`; the rule for each
//! field's text, which the stream entry decoder shares, in `rules`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::FieldErrors;

mod parse;
mod rules;

pub use parse::{parse_batch, parse_click, parse_object};
pub use rules::{
    parse_offer_id, parse_timestamp, validate_click_id, validate_signature, validate_text,
};

/// Longest `click_id`, `source` and `signature`, in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// Most clicks in one batch webhook.
pub const MAX_BATCH_CLICKS: usize = 1000;
/// Largest accepted `offer_id` (it is stored in a signed 64-bit column by older clients).
pub const MAX_OFFER_ID: u64 = i64::MAX as u64;

/// Field names of the contract.
pub mod fields {
    pub const CLICK_ID: &str = "click_id";
    pub const OFFER_ID: &str = "offer_id";
    pub const SOURCE: &str = "source";
    pub const TIMESTAMP: &str = "timestamp";
    pub const SIGNATURE: &str = "signature";
    pub const CLICKS: &str = "clicks";
    /// Used when the body as a whole is unusable.
    pub const BODY: &str = "body";
}

/// A positive offer identifier, at most 2^63−1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(u64);

impl OfferId {
    pub fn new(value: u64) -> Option<Self> {
        (1..=MAX_OFFER_ID).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// A validated click, as stored and forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub click_id: String,
    pub offer_id: OfferId,
    pub source: String,
    /// When the click happened, in UTC, truncated to microseconds.
    pub timestamp: DateTime<Utc>,
    /// The sender's own signature, stored and forwarded as is.
    pub signature: String,
}

impl Click {
    /// The UTC day the click belongs to.
    pub fn date(&self) -> NaiveDate {
        self.timestamp.date_naive()
    }

    /// The timestamp as RFC 3339 in UTC with microseconds, the form used on
    /// the stream and towards Finance.
    pub fn timestamp_rfc3339(&self) -> String {
        format_timestamp(self.timestamp)
    }
}

/// RFC 3339, UTC, microseconds: `2025-06-11T14:00:00.000000Z`.
pub fn format_timestamp(timestamp: DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Why one item of a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidItem {
    /// The item's `click_id` when it had a usable string one.
    pub click_id: Option<String>,
    pub details: FieldErrors,
}

/// The first and last date of the service, in UTC for clicks and as local
/// dates for reports: what MySQL's `DATE` and `DATETIME` hold.
pub const MIN_DATE: NaiveDate = NaiveDate::from_ymd_opt(1000, 1, 1).expect("a valid date");
pub const MAX_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");

#[cfg(test)]
pub(crate) mod tests;

/// The first UTC date `CLICKS_RETENTION_DAYS` = `days` keeps, on `today`:
/// ingest refuses clicks of earlier dates. The worker still stores one day
/// more (clicks accepted just before midnight), and the retention job
/// deletes only dates before that day, so no click is ever stored for a date
/// whose raw clicks — the dedupe of `click_id` — may already be gone.
pub fn retention_first_kept(today: NaiveDate, days: u32) -> NaiveDate {
    today
        .checked_sub_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(MIN_DATE)
        .max(MIN_DATE)
}
