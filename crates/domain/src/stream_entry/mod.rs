//! The stream entry format: how one click travels from ingest to the workers.
//!
//! Each click is one Redis Stream entry whose fields are the click's own
//! fields as text, plus the time ingest received it:
//!
//! | field         | value                                           |
//! |---------------|-------------------------------------------------|
//! | `click_id`    | as sent                                         |
//! | `offer_id`    | decimal digits                                  |
//! | `source`      | as sent                                         |
//! | `timestamp`   | RFC 3339, UTC, microseconds                     |
//! | `signature`   | as sent                                         |
//! | `received_at` | RFC 3339, UTC, microseconds: when ingest got it |
//!
//! Decoding applies the same rules as the webhook, so an entry written by
//! hand (or by a buggy producer) can never reach MySQL malformed: it fails to
//! decode and ends in the dead-letter stream instead.
//!
//! # Packed entries
//!
//! Under load ingest writes the clicks of one shard that arrive together as
//! one *packed* entry of up to [`PACK_MAX_CLICKS`] clicks, so Redis (and each
//! replica) does its per-command work once per pack rather than once per
//! click:
//!
//! | field         | value                                                   |
//! |---------------|---------------------------------------------------------|
//! | `clicks`      | a JSON array with one array per click: the six values above, in that order |
//! | `click_count` | the number of clicks, in decimal (for people reading the stream) |
//!
//! A pack of at least [`COMPRESS_MIN_CLICKS`] clicks carries the same JSON
//! compressed instead, which cuts the bytes Redis receives, keeps in memory
//! and sends to each replica to between a third (ids and signatures with
//! structure) and two thirds (random ones) of the JSON:
//!
//! | field         | value                                                   |
//! |---------------|---------------------------------------------------------|
//! | `clicks_lz4`  | the `clicks` JSON as one LZ4 block, after its length in bytes (4 bytes, little-endian) |
//! | `click_count` | as above                                                |
//!
//! A single click is always written in the one-click form, byte for byte as
//! before packing existed. Each click of a pack is decoded on its own, so one
//! bad click is set aside without its neighbours. Workers that know a form
//! must run before ingest writes it: an older worker dead-letters a pack
//! (or a compressed pack) as undecodable (nothing is lost; `worker
//! dead-letter replay` brings it back once the workers are upgraded).

use chrono::{DateTime, Utc};

use crate::click::{self, Click, fields, format_timestamp};

mod packed;

pub use packed::{
    COMPRESS_MIN_CLICKS, EntryClicks, FIELD_CLICK_COUNT, FIELD_CLICKS, FIELD_CLICKS_LZ4,
    PACK_MAX_CLICKS, PackCompression, decompress, is_packed, pack, unpack,
};

pub const FIELD_RECEIVED_AT: &str = "received_at";

/// The field names of an entry, in the order they are written.
pub const FIELDS: [&str; 6] = [
    fields::CLICK_ID,
    fields::OFFER_ID,
    fields::SOURCE,
    fields::TIMESTAMP,
    fields::SIGNATURE,
    FIELD_RECEIVED_AT,
];
/// One click's values as written, in [`FIELDS`] order.
pub type ClickValues = [String; 6];

/// Every click of an entry, either form; the first bad one fails it all.
/// For tools and tests: the worker decodes a pack's clicks one by one.
pub fn decode_entry<F, V>(pairs: &[(F, V)]) -> Result<Vec<StreamClick>, DecodeError>
where
    F: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    match unpack(pairs)? {
        EntryClicks::One => Ok(vec![StreamClick::decode(pairs)?]),
        EntryClicks::Packed(clicks) => clicks.iter().map(StreamClick::decode_values).collect(),
    }
}

/// A click as read back from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamClick {
    pub click: Click,
    pub received_at: DateTime<Utc>,
}

/// Why an entry could not be decoded; the text is the dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{0}` is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl StreamClick {
    /// The entry's field/value pairs, in [`FIELDS`] order.
    pub fn encode(&self) -> [(&'static str, String); 6] {
        let click = &self.click;
        [
            (fields::CLICK_ID, click.click_id.clone()),
            (fields::OFFER_ID, click.offer_id.get().to_string()),
            (fields::SOURCE, click.source.clone()),
            (fields::TIMESTAMP, format_timestamp(click.timestamp)),
            (fields::SIGNATURE, click.signature.clone()),
            (FIELD_RECEIVED_AT, format_timestamp(self.received_at)),
        ]
    }

    /// The values of [`encode`](Self::encode), without the field names.
    pub fn values(&self) -> ClickValues {
        self.encode().map(|(_, value)| value)
    }

    /// Decodes one click of a packed entry.
    pub fn decode_values(values: &ClickValues) -> Result<Self, DecodeError> {
        Self::decode(&named(values))
    }

    /// Decodes an entry from its field/value pairs. Unknown fields are ignored
    /// so that a newer producer can add some; a repeated field keeps its last value.
    pub fn decode<F, V>(pairs: &[(F, V)]) -> Result<Self, DecodeError>
    where
        F: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut values: [Option<&[u8]>; 6] = [None; 6];
        for (field, value) in pairs {
            if let Some(slot) = FIELDS
                .iter()
                .position(|name| name.as_bytes() == field.as_ref())
            {
                values[slot] = Some(value.as_ref());
            }
        }
        let text = |slot: usize| -> Result<&str, DecodeError> {
            let name = FIELDS[slot];
            let bytes = values[slot].ok_or(DecodeError::Missing(name))?;
            std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8(name))
        };
        let invalid =
            |field: &'static str| move |reason: String| DecodeError::Invalid { field, reason };

        let click_id = text(0)?;
        click::validate_text(fields::CLICK_ID, click_id).map_err(invalid(fields::CLICK_ID))?;
        let offer_id = click::parse_offer_id(text(1)?).map_err(invalid(fields::OFFER_ID))?;
        let source = text(2)?;
        click::validate_text(fields::SOURCE, source).map_err(invalid(fields::SOURCE))?;
        let timestamp = click::parse_timestamp(text(3)?).map_err(invalid(fields::TIMESTAMP))?;
        let signature = text(4)?;
        click::validate_signature(signature).map_err(invalid(fields::SIGNATURE))?;
        let received_at = click::parse_timestamp(text(5)?).map_err(invalid(FIELD_RECEIVED_AT))?;

        Ok(Self {
            click: Click {
                click_id: click_id.to_owned(),
                offer_id,
                source: source.to_owned(),
                timestamp,
                signature: signature.to_owned(),
            },
            received_at,
        })
    }
}

/// A click's values with their field names: its one-click entry.
pub fn named(values: &ClickValues) -> [(&'static str, &str); 6] {
    std::array::from_fn(|slot| (FIELDS[slot], values[slot].as_str()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::click::tests::arbitrary_click;

    /// Click `c` of offer 7 from source `s`, with this signature.
    pub(super) fn entry_signed(signature: &str) -> StreamClick {
        StreamClick {
            click: Click {
                click_id: "c".into(),
                offer_id: crate::OfferId::new(7).expect("positive"),
                source: "s".into(),
                timestamp: received(),
                signature: signature.into(),
            },
            received_at: received(),
        }
    }

    pub(super) fn received() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-11T14:00:01.123456Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn missing_fields_are_named() {
        let pairs = [("click_id", "a"), ("offer_id", "1")];
        assert_eq!(
            StreamClick::decode(&pairs),
            Err(DecodeError::Missing("source"))
        );
    }

    #[test]
    fn invalid_values_are_refused_with_the_rule() {
        let entry = entry_signed("sig");
        let mut pairs: Vec<(&str, String)> = entry.encode().to_vec();
        pairs[1].1 = "0".into();
        let error = StreamClick::decode(&pairs).expect_err("offer_id 0");
        assert!(matches!(
            error,
            DecodeError::Invalid {
                field: "offer_id",
                ..
            }
        ));

        let mut pairs: Vec<(&str, Vec<u8>)> = entry
            .encode()
            .into_iter()
            .map(|(f, v)| (f, v.into_bytes()))
            .collect();
        pairs[2].1 = vec![0xff, 0xfe];
        assert_eq!(
            StreamClick::decode(&pairs),
            Err(DecodeError::NotUtf8("source"))
        );
    }

    proptest! {
        #[test]
        fn encoding_round_trips(click in arbitrary_click()) {
            let entry = StreamClick { click, received_at: received() };
            let pairs = entry.encode();
            prop_assert_eq!(StreamClick::decode(&pairs), Ok(entry));
        }

        #[test]
        fn arbitrary_entries_never_panic(
            pairs in proptest::collection::vec(
                (prop_oneof![
                    Just(b"click_id".to_vec()), Just(b"offer_id".to_vec()), Just(b"source".to_vec()),
                    Just(b"timestamp".to_vec()), Just(b"signature".to_vec()), Just(b"received_at".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..12),
                ], proptest::collection::vec(any::<u8>(), 0..40)),
                0..10,
            )
        ) {
            let _ = StreamClick::decode(&pairs);
            let _ = decode_entry(&pairs);
        }
    }

    #[test]
    fn a_one_click_entry_is_one_click() {
        let entry = entry_signed("sig\nwith a line break");
        let pairs = entry.encode();
        assert_eq!(unpack(&pairs), Ok(EntryClicks::One));
        assert!(!is_packed(&pairs));
        assert!(is_packed(&pack(
            [entry.values(), entry.values()].iter(),
            PackCompression::Lz4
        )));
        assert_eq!(decode_entry(&pairs), Ok(vec![entry.clone()]));
        assert_eq!(StreamClick::decode_values(&entry.values()), Ok(entry));
    }
}
