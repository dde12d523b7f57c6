//! Fuzz-style properties of the stream entry decoder: entries near a valid
//! one — fields dropped, repeated, reordered, damaged or joined by unknown
//! ones — decode or fail naming the culprit, never panic. (The unit tests
//! cover entries of random bytes; these reach the later fields' rules too.)

use domain::stream_entry::FIELDS;
use domain::{DecodeError, StreamClick};
use proptest::prelude::*;

fn valid_entry() -> Vec<(Vec<u8>, Vec<u8>)> {
    let pairs: [(&str, &str); 6] = [
        ("click_id", "click-1"),
        ("offer_id", "12345"),
        ("source", "network_1"),
        ("timestamp", "2025-06-11T14:00:00.000000Z"),
        ("signature", "sender-signature"),
        ("received_at", "2025-06-11T14:00:01.123456Z"),
    ];
    pairs
        .iter()
        .map(|(field, value)| (field.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

/// Values that sit on a rule's edge, or anything at all.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(
            &[
                "",
                "0",
                "1",
                "9223372036854775807",
                "9223372036854775808",
                "-4",
                "+4",
                " 1",
                "2025-06-11T14:00:00Z",
                "0999-12-31T23:59:59Z",
                "2025-06-11T14:00:00",
                "x\u{1}y",
                "ü",
            ][..]
        )
        .prop_map(|text| text.as_bytes().to_vec()),
        (250usize..260).prop_map(|n| "ü".repeat(n).into_bytes()),
        any::<String>().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(&FIELDS[..]).prop_map(|name| name.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Drop(prop::sample::Index),
    Replace(prop::sample::Index, Vec<u8>),
    Add(Vec<u8>, Vec<u8>),
    Swap(prop::sample::Index, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Drop),
        (any::<prop::sample::Index>(), value()).prop_map(|(at, value)| Edit::Replace(at, value)),
        (field(), value()).prop_map(|(field, value)| Edit::Add(field, value)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(edits: &[Edit]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs = valid_entry();
    for edit in edits {
        match edit {
            Edit::Drop(at) if !pairs.is_empty() => {
                pairs.remove(at.index(pairs.len()));
            }
            Edit::Replace(at, value) if !pairs.is_empty() => {
                let at = at.index(pairs.len());
                pairs[at].1.clone_from(value);
            }
            Edit::Add(field, value) => pairs.push((field.clone(), value.clone())),
            Edit::Swap(a, b) if !pairs.is_empty() => {
                let (a, b) = (a.index(pairs.len()), b.index(pairs.len()));
                pairs.swap(a, b);
            }
            _ => {}
        }
    }
    pairs
}

/// The value the decoder must use for `name`: the last one given.
fn last_value<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .rev()
        .find(|(field, _)| field == name.as_bytes())
        .map(|(_, value)| value.as_slice())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn near_valid_entries_decode_or_name_the_culprit(edits in prop::collection::vec(edit(), 0..5)) {
        let pairs = apply(&edits);
        match StreamClick::decode(&pairs) {
            Ok(entry) => {
                // What was decoded is exactly what the entry said, and it encodes back.
                let encoded = entry.encode();
                prop_assert_eq!(
                    last_value(&pairs, "click_id"),
                    Some(entry.click.click_id.as_bytes())
                );
                prop_assert_eq!(last_value(&pairs, "source"), Some(entry.click.source.as_bytes()));
                prop_assert_eq!(
                    last_value(&pairs, "signature"),
                    Some(entry.click.signature.as_bytes())
                );
                prop_assert_eq!(StreamClick::decode(&encoded), Ok(entry));
            }
            Err(DecodeError::Missing(name)) => {
                prop_assert!(FIELDS.contains(&name));
                prop_assert_eq!(last_value(&pairs, name), None);
            }
            Err(DecodeError::NotUtf8(name)) => {
                let value = last_value(&pairs, name).expect("present");
                prop_assert!(std::str::from_utf8(value).is_err());
            }
            Err(DecodeError::Invalid { field, reason }) => {
                prop_assert!(FIELDS.contains(&field));
                prop_assert!(last_value(&pairs, field).is_some());
                prop_assert!(!reason.is_empty());
            }
        }
    }
}
