//! The click, and every validation rule of the webhook contract (contract: Webhooks).
//!
//! Parsing goes through a permissive raw shape first so that every field can
//! be judged on its own and each invalid one reported with its reason, the way
//! existing senders expect (`{"<field>": ["<reason>"]}`).

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::FieldErrors;

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

/// Every field optional and of any JSON type, so each can be judged alone.
/// Unknown fields are ignored.
#[derive(Deserialize)]
struct RawClick {
    click_id: Option<Value>,
    offer_id: Option<Value>,
    source: Option<Value>,
    timestamp: Option<Value>,
    signature: Option<Value>,
}

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    clicks: Option<&'a RawValue>,
}

/// Parses and validates the body of `POST /api/webhook/clicks`.
pub fn parse_click(body: &[u8]) -> Result<Click, FieldErrors> {
    let raw: RawClick = parse_object(body)?;
    raw.validate().map_err(|invalid| invalid.details)
}

/// Parses the body of `POST /api/webhook/clicks/batch`.
///
/// The outer error means the batch itself is unusable (not JSON, `clicks`
/// missing, not an array, empty or too long); otherwise each item is judged
/// on its own.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Result<Click, InvalidItem>>, FieldErrors> {
    let batch: RawBatch<'_> = parse_object(body)?;
    let Some(clicks) = batch.clicks else {
        return Err(FieldErrors::single(
            fields::CLICKS,
            "The clicks field is required.",
        ));
    };
    let items: Vec<&RawValue> = serde_json::from_str(clicks.get())
        .map_err(|_| FieldErrors::single(fields::CLICKS, "The clicks field must be an array."))?;
    if items.is_empty() {
        return Err(FieldErrors::single(
            fields::CLICKS,
            "The clicks field must have at least 1 item.",
        ));
    }
    if items.len() > MAX_BATCH_CLICKS {
        return Err(FieldErrors::single(
            fields::CLICKS,
            format!("The clicks field must not have more than {MAX_BATCH_CLICKS} items."),
        ));
    }
    Ok(items.into_iter().map(parse_item).collect())
}

fn parse_item(item: &RawValue) -> Result<Click, InvalidItem> {
    match parse_object::<RawClick>(item.get().as_bytes()) {
        Ok(raw) => raw.validate(),
        Err(_) => Err(InvalidItem {
            click_id: None,
            details: FieldErrors::single(fields::BODY, "Each click must be a JSON object."),
        }),
    }
}

/// Deserialises a JSON object, refusing arrays (which serde would otherwise
/// map onto struct fields by position), anything that is not JSON, and — for
/// a derived `T` — a key given twice. Errors are under the field `body`.
pub fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FieldErrors> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'{') {
        let reason = if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
            "The request body must be a JSON object.".to_owned()
        } else {
            invalid_json_reason(body)
        };
        return Err(FieldErrors::single(fields::BODY, reason));
    }
    serde_json::from_slice(body).map_err(|error| {
        let reason = if error.is_data() {
            format!("The request body has an invalid structure: {error}.")
        } else {
            invalid_json_reason(body)
        };
        FieldErrors::single(fields::BODY, reason)
    })
}

fn invalid_json_reason(body: &[u8]) -> String {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(error) => format!("The request body must be valid JSON: {error}."),
        Ok(_) => "The request body must be valid JSON.".to_owned(),
    }
}

impl RawClick {
    fn validate(self) -> Result<Click, InvalidItem> {
        let mut errors = FieldErrors::new();
        // Kept even when invalid, so a batch error can name the item.
        let click_id = string_field(fields::CLICK_ID, self.click_id, &mut errors);
        let click_id_valid = click_id.as_deref().is_some_and(|text| {
            validate_click_id(text)
                .map_err(|reason| errors.add(fields::CLICK_ID, reason))
                .is_ok()
        });
        let offer_id = offer_id_field(self.offer_id, &mut errors);
        let source = text_field(fields::SOURCE, self.source, &mut errors);
        let timestamp = timestamp_field(self.timestamp, &mut errors);
        let signature = signature_field(self.signature, &mut errors);
        match (click_id, offer_id, source, timestamp, signature) {
            (Some(click_id), Some(offer_id), Some(source), Some(timestamp), Some(signature))
                if click_id_valid && errors.is_empty() =>
            {
                Ok(Click {
                    click_id,
                    offer_id,
                    source,
                    timestamp,
                    signature,
                })
            }
            (click_id, ..) => Err(InvalidItem {
                click_id,
                details: errors,
            }),
        }
    }
}

fn required(field: &str) -> String {
    format!("The {field} field is required.")
}

/// `click_id` and `source`: 1–255 characters, no control characters.
fn text_field(field: &str, value: Option<Value>, errors: &mut FieldErrors) -> Option<String> {
    let text = string_field(field, value, errors)?;
    match validate_text(field, &text) {
        Ok(()) => Some(text),
        Err(reason) => {
            errors.add(field, reason);
            None
        }
    }
}

/// The sender's signature: 1–255 characters, stored as is.
fn signature_field(value: Option<Value>, errors: &mut FieldErrors) -> Option<String> {
    let text = string_field(fields::SIGNATURE, value, errors)?;
    match validate_signature(&text) {
        Ok(()) => Some(text),
        Err(reason) => {
            errors.add(fields::SIGNATURE, reason);
            None
        }
    }
}

fn string_field(field: &str, value: Option<Value>, errors: &mut FieldErrors) -> Option<String> {
    match value {
        None => {
            errors.add(field, required(field));
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            errors.add(field, format!("The {field} field must be a string."));
            None
        }
    }
}

/// The rule for `click_id` and `source`.
pub fn validate_text(field: &str, text: &str) -> Result<(), String> {
    validate_length(field, text)?;
    if text.chars().any(char::is_control) {
        return Err(format!(
            "The {field} field must not contain control characters."
        ));
    }
    Ok(())
}

/// The rule for a new `click_id`: [`validate_text`], and not only whitespace.
/// Identity is exact (`"id"` and `"id "` are two clicks), so an id that is
/// nothing but spaces would be a click no sender could tell apart by eye.
/// Stream entries are decoded with [`validate_text`] alone: an entry
/// accepted before this rule still gets stored.
pub fn validate_click_id(text: &str) -> Result<(), String> {
    validate_text(fields::CLICK_ID, text)?;
    if text.trim().is_empty() {
        return Err(format!(
            "The {} field must not be only whitespace.",
            fields::CLICK_ID
        ));
    }
    Ok(())
}

/// The rule for `signature`.
pub fn validate_signature(text: &str) -> Result<(), String> {
    validate_length(fields::SIGNATURE, text)
}

fn validate_length(field: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(required(field));
    }
    // Byte length bounds character count from above: skip counting the common case.
    if text.len() > MAX_TEXT_CHARS && text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "The {field} field must not be greater than {MAX_TEXT_CHARS} characters."
        ));
    }
    Ok(())
}

fn offer_id_field(value: Option<Value>, errors: &mut FieldErrors) -> Option<OfferId> {
    let field = fields::OFFER_ID;
    let result = match value {
        None => Err(required(field)),
        Some(Value::Number(number)) => offer_id_from_number(&number),
        Some(Value::String(text)) => parse_offer_id(&text),
        Some(_) => Err(not_an_integer()),
    };
    result.map_err(|reason| errors.add(field, reason)).ok()
}

fn not_an_integer() -> String {
    format!("The {} field must be an integer.", fields::OFFER_ID)
}

fn too_small() -> String {
    format!("The {} field must be at least 1.", fields::OFFER_ID)
}

fn too_large() -> String {
    format!(
        "The {} field must not be greater than {MAX_OFFER_ID}.",
        fields::OFFER_ID
    )
}

fn offer_id_from_number(number: &serde_json::Number) -> Result<OfferId, String> {
    if let Some(value) = number.as_u64() {
        return OfferId::new(value).ok_or_else(
            || {
                if value == 0 { too_small() } else { too_large() }
            },
        );
    }
    if number.is_i64() {
        return Err(too_small());
    }
    // An integral number written with a fraction or exponent (`12.0`, `1e3`)
    // is an integer, as in JSON Schema and as the old service took it.
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && value < 1.0 => Err(too_small()),
        Some(value) if value.fract() == 0.0 && value >= MAX_OFFER_ID as f64 => Err(too_large()),
        Some(value) if value.fract() == 0.0 => OfferId::new(value as u64).ok_or_else(too_large),
        _ => Err(not_an_integer()),
    }
}

/// `offer_id` given as a string of decimal digits.
pub fn parse_offer_id(text: &str) -> Result<OfferId, String> {
    if text.is_empty() {
        return Err(required(fields::OFFER_ID));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_an_integer());
    }
    let digits = text.trim_start_matches('0');
    if digits.is_empty() {
        return Err(too_small());
    }
    let value: u64 = digits.parse().map_err(|_| too_large())?;
    OfferId::new(value).ok_or_else(too_large)
}

fn timestamp_field(value: Option<Value>, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    let text = string_field(fields::TIMESTAMP, value, errors)?;
    parse_timestamp(&text)
        .map_err(|reason| errors.add(fields::TIMESTAMP, reason))
        .ok()
}

/// The first and last date of the service, in UTC for clicks and as local
/// dates for reports: what MySQL's `DATE` and `DATETIME` hold.
pub const MIN_DATE: NaiveDate = NaiveDate::from_ymd_opt(1000, 1, 1).expect("a valid date");
pub const MAX_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");

/// An RFC 3339 date-time with an offset, converted to UTC and truncated to
/// microseconds. Years outside 1000–9999 (UTC) are refused because MySQL's
/// `DATETIME` cannot hold them.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let field = fields::TIMESTAMP;
    if text.is_empty() {
        return Err(required(field));
    }
    let invalid = || {
        format!(
            "The {field} field must be an RFC 3339 date-time with an offset, like 2025-06-11T14:00:00Z."
        )
    };
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| invalid())?;
    let utc = parsed.with_timezone(&Utc);
    let nanos = utc.nanosecond();
    if nanos >= 1_000_000_000 {
        // A leap second: MySQL cannot store it.
        return Err(invalid());
    }
    if !(MIN_DATE..=MAX_DATE).contains(&utc.date_naive()) {
        return Err(format!(
            "The {field} field must be between {MIN_DATE} and {MAX_DATE} in UTC."
        ));
    }
    utc.with_nanosecond(nanos - nanos % 1_000)
        .ok_or_else(invalid)
}

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
