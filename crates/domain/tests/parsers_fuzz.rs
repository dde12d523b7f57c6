//! Fuzz-style properties of the webhook parsers over JSON-ish input (the
//! unit tests already feed them arbitrary bytes): whatever a sender posts,
//! `parse_click` and `parse_batch` return, never panic; what they accept
//! obeys every rule of the contract; what they refuse names only contract
//! fields.

use chrono::{Datelike, Timelike};
use domain::click::{MAX_BATCH_CLICKS, MAX_OFFER_ID, MAX_TEXT_CHARS, fields};
use domain::{Click, FieldErrors, StreamClick, parse_batch, parse_click};
use proptest::prelude::*;
use serde_json::{Value, json};

const CONTRACT_FIELDS: [&str; 5] = [
    fields::CLICK_ID,
    fields::OFFER_ID,
    fields::SOURCE,
    fields::TIMESTAMP,
    fields::SIGNATURE,
];

/// Object keys: the contract's own most often, near misses, anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&[
            fields::CLICK_ID, fields::OFFER_ID, fields::SOURCE, fields::TIMESTAMP,
            fields::SIGNATURE, fields::CLICKS,
        ][..]).prop_map(str::to_owned),
        1 => prop::sample::select(&["Click_id", "offer_id ", "", "clicks\u{0}", "__proto__"][..])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Scalars, many of them on the edge of a rule.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        prop::sample::select(&[0, 1, -1, i64::MAX, i64::MIN][..]).prop_map(Value::from),
        Just(json!(MAX_OFFER_ID + 1)),
        Just(json!(1.0)),
        Just(json!(1e30)),
        "0{0,3}[0-9]{0,22}".prop_map(Value::from),
        prop::sample::select(
            &[
                "2025-06-11T14:00:00Z",
                "2025-06-11T14:00:00.1234567+14:00",
                "0999-12-31T23:59:59Z",
                "9999-12-31T23:59:59-01:00",
                "2025-02-30T00:00:00Z",
                "2025-06-11 14:00:00Z",
                "2025-06-11T14:00:00",
                "",
            ][..]
        )
        .prop_map(Value::from),
        // Lengths around the 255-character limit, in one- and two-byte characters.
        (250usize..260, any::<bool>())
            .prop_map(|(n, wide)| Value::from(if wide { "ü" } else { "x" }.repeat(n))),
        "[ -~]{0,20}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

/// Any JSON: scalars, arrays and objects nested a few levels.
fn json_ish() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..7)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A valid click whose fields are each kept, dropped or replaced, plus extra keys.
fn click_ish() -> impl Strategy<Value = Value> {
    let valid = json!({
        "click_id": "click-1",
        "offer_id": 12345,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-signature",
    });
    let edit = prop_oneof![
        5 => Just(None),
        1 => Just(Some(None)),
        2 => json_ish().prop_map(|value| Some(Some(value))),
    ];
    (
        prop::collection::vec(edit, CONTRACT_FIELDS.len()),
        prop::collection::vec((key(), json_ish()), 0..3),
    )
        .prop_map(move |(edits, extra)| {
            let mut click = valid.clone();
            let object = click.as_object_mut().expect("object");
            for (field, edit) in CONTRACT_FIELDS.iter().zip(edits) {
                match edit {
                    None => {}
                    Some(None) => {
                        object.remove(*field);
                    }
                    Some(Some(value)) => {
                        object.insert((*field).to_owned(), value);
                    }
                }
            }
            for (key, value) in extra {
                object.entry(key).or_insert(value);
            }
            click
        })
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialisable")
}

/// Every rule of contract: Webhooks holds for an accepted click, and it survives the stream.
fn assert_obeys_the_contract(click: &Click) -> Result<(), TestCaseError> {
    for (name, text) in [
        (fields::CLICK_ID, &click.click_id),
        (fields::SOURCE, &click.source),
        (fields::SIGNATURE, &click.signature),
    ] {
        let chars = text.chars().count();
        prop_assert!(
            (1..=MAX_TEXT_CHARS).contains(&chars),
            "{name}: {chars} chars"
        );
        if name != fields::SIGNATURE {
            prop_assert!(!text.chars().any(char::is_control), "{name}: {text:?}");
        }
    }
    prop_assert!((1..=MAX_OFFER_ID).contains(&click.offer_id.get()));
    prop_assert!((1000..=9999).contains(&click.timestamp.year()));
    prop_assert_eq!(
        click.timestamp.nanosecond() % 1000,
        0,
        "microseconds at most"
    );
    let entry = StreamClick {
        click: click.clone(),
        received_at: click.timestamp,
    };
    prop_assert_eq!(StreamClick::decode(&entry.encode()), Ok(entry));
    Ok(())
}

fn assert_names_only(errors: &FieldErrors, allowed: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    for field in errors.fields() {
        prop_assert!(allowed.contains(&field), "unexpected field {field:?}");
        prop_assert!(errors.get(field).is_some_and(|reasons| !reasons.is_empty()));
    }
    Ok(())
}

/// What a single-click body may be refused for.
fn click_error_fields() -> Vec<&'static str> {
    let mut allowed = CONTRACT_FIELDS.to_vec();
    allowed.push(fields::BODY);
    allowed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_single_click_body_is_accepted_only_when_valid(
        body in prop_oneof![3 => click_ish(), 1 => json_ish()]
    ) {
        match parse_click(&to_bytes(&body)) {
            Ok(click) => {
                assert_obeys_the_contract(&click)?;
                prop_assert_eq!(Some(click.click_id.as_str()), body["click_id"].as_str());
            }
            Err(errors) => assert_names_only(&errors, &click_error_fields())?,
        }
    }

    #[test]
    fn a_batch_body_is_judged_as_a_whole_then_item_by_item(
        body in prop_oneof![
            4 => prop::collection::vec(prop_oneof![4 => click_ish(), 1 => json_ish()], 0..8)
                .prop_map(|clicks| json!({"clicks": clicks})),
            1 => json_ish(),
        ]
    ) {
        match parse_batch(&to_bytes(&body)) {
            Ok(items) => {
                let sent = body["clicks"].as_array().map_or(0, Vec::len);
                prop_assert_eq!(items.len(), sent);
                prop_assert!((1..=MAX_BATCH_CLICKS).contains(&items.len()));
                for (item, raw) in items.iter().zip(body["clicks"].as_array().into_iter().flatten()) {
                    match item {
                        Ok(click) => {
                            assert_obeys_the_contract(click)?;
                            let alone = parse_click(&to_bytes(raw));
                            prop_assert_eq!(alone.as_ref(), Ok(click), "the same item posted alone");
                        }
                        Err(invalid) => assert_names_only(&invalid.details, &click_error_fields())?,
                    }
                }
            }
            Err(errors) => assert_names_only(&errors, &[fields::CLICKS, fields::BODY])?,
        }
    }

    #[test]
    fn damaged_json_never_panics(
        body in click_ish(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = to_bytes(&json!({"clicks": [body.clone(), body]}));
        let position = at.index(bytes.len());
        bytes[position] = byte;
        bytes.truncate(cut.index(bytes.len() + 1));
        for candidate in [&bytes[..], &bytes[bytes.len() / 2..]] {
            if let Ok(click) = parse_click(candidate) {
                assert_obeys_the_contract(&click)?;
            }
            if let Ok(items) = parse_batch(candidate) {
                for click in items.iter().flatten() {
                    assert_obeys_the_contract(click)?;
                }
            }
        }
    }
}
