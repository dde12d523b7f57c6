//! The rule for each field's text: what the webhook parser applies and the
//! stream entry decoder shares.

use chrono::{DateTime, Timelike, Utc};

use super::{MAX_DATE, MAX_OFFER_ID, MAX_TEXT_CHARS, MIN_DATE, OfferId, fields};

pub(super) fn required(field: &str) -> String {
    format!("The {field} field is required.")
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

pub(super) fn not_an_integer() -> String {
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

pub(super) fn offer_id_from_number(number: &serde_json::Number) -> Result<OfferId, String> {
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
