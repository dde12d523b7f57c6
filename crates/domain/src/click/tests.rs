use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn valid() -> Value {
    json!({
        "click_id": "click-1",
        "offer_id": 12345,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-signature",
    })
}

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialisable")
}

fn errors_of(value: &Value) -> FieldErrors {
    parse_click(&body(value)).expect_err("should be invalid")
}

fn reason(errors: &FieldErrors, field: &str) -> String {
    errors
        .get(field)
        .unwrap_or_else(|| panic!("no error for {field}: {errors:?}"))
        .join(" ")
}

#[test]
fn a_valid_click_is_parsed() {
    let click = parse_click(&body(&valid())).expect("valid");
    assert_eq!(click.click_id, "click-1");
    assert_eq!(click.offer_id.get(), 12345);
    assert_eq!(click.source, "network_1");
    assert_eq!(
        click.timestamp,
        Utc.with_ymd_and_hms(2025, 6, 11, 14, 0, 0).unwrap()
    );
    assert_eq!(click.signature, "sender-signature");
    assert_eq!(click.date().to_string(), "2025-06-11");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut value = valid();
    value["extra"] = json!({"nested": [1, 2]});
    assert!(parse_click(&body(&value)).is_ok());
}

#[test]
fn an_integral_number_with_a_fraction_or_exponent_is_an_integer() {
    for (offer_id, expected) in [(json!(11507.0), 11507), (json!(1e3), 1000)] {
        let mut value = valid();
        value["offer_id"] = offer_id.clone();
        let click = parse_click(&body(&value)).unwrap_or_else(|e| panic!("{offer_id}: {e:?}"));
        assert_eq!(click.offer_id.get(), expected, "{offer_id}");
    }
}

#[test]
fn offer_id_may_be_a_string_of_digits() {
    let mut value = valid();
    value["offer_id"] = json!("9223372036854775807");
    let click = parse_click(&body(&value)).expect("valid");
    assert_eq!(click.offer_id.get(), MAX_OFFER_ID);
}

#[test]
fn offer_id_rules() {
    let cases = [
        (json!(0), "at least 1"),
        (json!(-5), "at least 1"),
        (json!("0"), "at least 1"),
        (json!(1.5), "must be an integer"),
        (json!("12a"), "must be an integer"),
        (json!("-3"), "must be an integer"),
        (json!(" 3"), "must be an integer"),
        (json!(true), "must be an integer"),
        (json!(9_223_372_036_854_775_808u64), "not be greater than"),
        (json!("9223372036854775808"), "not be greater than"),
        (json!("99999999999999999999999"), "not be greater than"),
        (json!(1e30), "not be greater than"),
        (json!(-2.0), "at least 1"),
        (json!(""), "is required"),
        (Value::Null, "is required"),
    ];
    for (offer_id, expected) in cases {
        let mut value = valid();
        value["offer_id"] = offer_id.clone();
        let reason = reason(&errors_of(&value), "offer_id");
        assert!(reason.contains(expected), "{offer_id}: {reason}");
    }
}

#[test]
fn text_rules_apply_to_click_id_and_source() {
    for field in ["click_id", "source"] {
        let cases = [
            (json!(""), "is required"),
            (json!(42), "must be a string"),
            (json!("a".repeat(256)), "not be greater than 255 characters"),
            (json!("tab\there"), "control characters"),
            (json!("nul\u{0}"), "control characters"),
            (json!("c1\u{85}"), "control characters"),
        ];
        for (text, expected) in cases {
            let mut value = valid();
            value[field] = text.clone();
            let reason = reason(&errors_of(&value), field);
            assert!(reason.contains(expected), "{field}={text}: {reason}");
        }
        let mut value = valid();
        value[field] = json!("é".repeat(255));
        assert!(
            parse_click(&body(&value)).is_ok(),
            "255 two-byte characters fit"
        );
    }
}

#[test]
fn a_click_id_of_only_whitespace_is_refused_but_spaces_around_one_are_kept() {
    for blank in [" ", "   ", "\u{a0}", "\u{2003} \u{3000}"] {
        let mut value = valid();
        value["click_id"] = json!(blank);
        let reason = reason(&errors_of(&value), "click_id");
        assert_eq!(
            reason, "The click_id field must not be only whitespace.",
            "{blank:?}"
        );
    }
    // Identity is exact: the spaces are part of the id, not trimmed.
    for id in ["pad_id ", " pad_id", "pad_id  "] {
        let mut value = valid();
        value["click_id"] = json!(id);
        let click = parse_click(&body(&value)).expect("valid");
        assert_eq!(click.click_id, id);
    }
    // A source of spaces is still a source (the rule is the click id's).
    let mut value = valid();
    value["source"] = json!(" ");
    assert!(parse_click(&body(&value)).is_ok());
}

#[test]
fn signature_is_stored_as_is_but_bounded() {
    let mut value = valid();
    value["signature"] = json!("any\tthing");
    assert_eq!(
        parse_click(&body(&value)).expect("valid").signature,
        "any\tthing"
    );
    value["signature"] = json!("s".repeat(256));
    assert!(reason(&errors_of(&value), "signature").contains("255"));
    value["signature"] = json!("");
    assert!(reason(&errors_of(&value), "signature").contains("required"));
}

#[test]
fn timestamps_are_normalised_to_utc_microseconds() {
    let mut value = valid();
    value["timestamp"] = json!("2025-06-11T23:30:00.1234567-02:00");
    let click = parse_click(&body(&value)).expect("valid");
    assert_eq!(click.timestamp_rfc3339(), "2025-06-12T01:30:00.123456Z");
    assert_eq!(click.date().to_string(), "2025-06-12");
}

#[test]
fn timestamp_rules() {
    let cases = [
        json!("2025-06-11T14:00:00"),
        json!("2025-06-11"),
        json!("yesterday"),
        json!("2025-13-01T00:00:00Z"),
        json!("2016-12-31T23:59:60Z"),
        json!(1_700_000_000),
        json!("0999-12-31T23:59:59Z"),
        json!("1000-01-01T00:30:00+01:00"),
    ];
    for timestamp in cases {
        let mut value = valid();
        value["timestamp"] = timestamp.clone();
        let errors = errors_of(&value);
        assert!(errors.get("timestamp").is_some(), "{timestamp}: {errors:?}");
    }
}

#[test]
fn every_missing_field_is_reported_at_once() {
    let errors = parse_click(b"{}").expect_err("empty object");
    let fields: Vec<&str> = errors.fields().collect();
    assert_eq!(
        fields,
        ["click_id", "offer_id", "signature", "source", "timestamp"]
    );
    assert_eq!(
        errors.get("click_id"),
        Some(&["The click_id field is required.".to_owned()][..])
    );
}

#[test]
fn bodies_that_are_not_objects_are_refused() {
    for bad in [
        &b"not json"[..],
        b"",
        b"[1,2,3,4,5]",
        b"\"x\"",
        b"{\"click_id\": ",
        b"null",
    ] {
        let errors = parse_click(bad).expect_err("invalid body");
        assert!(
            errors.get("body").is_some(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn batch_structure_rules() {
    let cases: [(&[u8], &str); 6] = [
        (b"{}", "is required"),
        (b"{\"clicks\": null}", "is required"),
        (b"{\"clicks\": {}}", "must be an array"),
        (b"{\"clicks\": \"x\"}", "must be an array"),
        (b"{\"clicks\": []}", "at least 1 item"),
        (b"[]", "JSON object"),
    ];
    for (bad, expected) in cases {
        let errors = parse_batch(bad).expect_err("invalid batch");
        let all: Vec<String> = errors
            .fields()
            .flat_map(|f| errors.get(f).unwrap_or_default().to_vec())
            .collect();
        assert!(
            all.join(" ").contains(expected),
            "{}: {all:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let too_many = json!({"clicks": vec![valid(); MAX_BATCH_CLICKS + 1]});
    let errors = parse_batch(&body(&too_many)).expect_err("too long");
    assert!(reason(&errors, "clicks").contains("not have more than 1000"));
    let full = json!({"clicks": vec![valid(); MAX_BATCH_CLICKS]});
    assert_eq!(
        parse_batch(&body(&full)).expect("fits").len(),
        MAX_BATCH_CLICKS
    );
}

#[test]
fn batch_items_are_judged_one_by_one() {
    let mut bad = valid();
    bad["offer_id"] = json!("nope");
    let mut long_id = valid();
    long_id["click_id"] = json!("x".repeat(300));
    let batch = json!({"clicks": [valid(), bad, 7, long_id, [1, 2, 3, 4, 5]]});
    let items = parse_batch(&body(&batch)).expect("structure ok");
    assert_eq!(items.len(), 5);
    assert!(items[0].is_ok());
    let invalid = items[1].as_ref().expect_err("bad offer");
    assert_eq!(invalid.click_id.as_deref(), Some("click-1"));
    assert!(invalid.details.get("offer_id").is_some());
    let invalid = items[2].as_ref().expect_err("not an object");
    assert_eq!(invalid.click_id, None);
    assert!(invalid.details.get("body").is_some());
    let invalid = items[3].as_ref().expect_err("long id");
    assert_eq!(invalid.click_id.as_deref(), Some("x".repeat(300).as_str()));
    assert!(items[4].is_err(), "arrays are not clicks");
}

/// Any click the rules accept.
pub(crate) fn arbitrary_click() -> impl Strategy<Value = Click> {
    let text = "[^\\p{Cc}]{1,255}";
    (
        text,
        1..=MAX_OFFER_ID,
        text,
        -30_610_224_000_000_000i64..253_402_300_799_999_999i64,
        ".{1,255}",
    )
        // A valid click id is not only whitespace.
        .prop_filter("click_id of only whitespace", |(click_id, ..)| {
            !click_id.trim().is_empty()
        })
        .prop_map(|(click_id, offer_id, source, micros, signature)| Click {
            click_id,
            offer_id: OfferId::new(offer_id).expect("in range"),
            source,
            timestamp: DateTime::from_timestamp_micros(micros).expect("in range"),
            signature,
        })
}

proptest! {
    #[test]
    fn accepted_clicks_survive_a_json_round_trip(click in arbitrary_click()) {
        let value = json!({
            "click_id": click.click_id,
            "offer_id": click.offer_id.get(),
            "source": click.source,
            "timestamp": click.timestamp_rfc3339(),
            "signature": click.signature,
        });
        prop_assert_eq!(parse_click(&body(&value)), Ok(click));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_click(&bytes);
        let _ = parse_batch(&bytes);
    }

    #[test]
    fn text_with_a_control_character_is_refused(
        prefix in "[a-z]{0,10}",
        control in prop_oneof![0u32..0x20, 0x7fu32..0xa0],
    ) {
        let text = format!("{prefix}{}", char::from_u32(control).expect("valid char"));
        prop_assert!(validate_text("source", &text).is_err());
    }

    #[test]
    fn text_length_is_counted_in_characters(len in 1usize..300) {
        let text = "ü".repeat(len);
        prop_assert_eq!(validate_text("source", &text).is_ok(), len <= MAX_TEXT_CHARS);
    }
}
