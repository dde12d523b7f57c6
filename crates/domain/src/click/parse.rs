//! Reading a webhook body: a JSON object (or a batch of them) into a
//! permissive raw shape, then each field judged on its own.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::rules::{
    not_an_integer, offer_id_from_number, parse_offer_id, parse_timestamp, required,
    validate_click_id, validate_signature, validate_text,
};
use super::{Click, InvalidItem, MAX_BATCH_CLICKS, OfferId, fields};
use crate::FieldErrors;

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

fn timestamp_field(value: Option<Value>, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    let text = string_field(fields::TIMESTAMP, value, errors)?;
    parse_timestamp(&text)
        .map_err(|reason| errors.add(fields::TIMESTAMP, reason))
        .ok()
}
