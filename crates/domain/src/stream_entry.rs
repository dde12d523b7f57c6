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

/// Field of a packed entry: its clicks' values, as JSON.
pub const FIELD_CLICKS: &str = "clicks";
/// Field of a compressed packed entry: the `clicks` JSON as an LZ4 block.
pub const FIELD_CLICKS_LZ4: &str = "clicks_lz4";
/// Packs of this many clicks or more are compressed. Smaller ones shrink
/// less (a 4-click pack of the bench's clicks 1.8×, against 2.8× at 79) and
/// hold the clicks of requests that came alone.
pub const COMPRESS_MIN_CLICKS: usize = 16;
/// Longest JSON a compressed pack may claim to expand to: far more than
/// [`PACK_MAX_CLICKS`] clicks at the longest fields; an entry claiming more
/// is refused before anything is allocated.
const PACK_MAX_JSON_BYTES: usize = 1 << 20;
/// Field of a packed entry: how many clicks it holds.
pub const FIELD_CLICK_COUNT: &str = "click_count";
/// Most clicks in one packed entry. It bounds an entry's size (about 40 KB
/// at the longest fields) and how far a worker's read can overshoot its
/// batch size.
pub const PACK_MAX_CLICKS: usize = 128;

/// One click's values as written, in [`FIELDS`] order.
pub type ClickValues = [String; 6];

/// The clicks an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryClicks {
    /// The entry's own fields are one click.
    One,
    /// A packed entry: each click's values.
    Packed(Vec<ClickValues>),
}

/// Whether an entry is packed (has a `clicks` or `clicks_lz4` field),
/// without reading the pack.
pub fn is_packed<F: AsRef<[u8]>, V>(pairs: &[(F, V)]) -> bool {
    pairs
        .iter()
        .any(|(field, _)| pack_field(field.as_ref()).is_some())
}

/// `FIELD_CLICKS` or `FIELD_CLICKS_LZ4`, when `field` is one of them.
fn pack_field(field: &[u8]) -> Option<&'static str> {
    [FIELD_CLICKS, FIELD_CLICKS_LZ4]
        .into_iter()
        .find(|name| name.as_bytes() == field)
}

/// Reads a packed entry's clicks; [`EntryClicks::One`] for the one-click form.
/// Fails only when the pack itself is malformed, not when a click in it is.
pub fn unpack<F, V>(pairs: &[(F, V)]) -> Result<EntryClicks, DecodeError>
where
    F: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let Some((field, packed)) = pairs
        .iter()
        .rev()
        .find_map(|(field, value)| Some((pack_field(field.as_ref())?, value.as_ref())))
    else {
        return Ok(EntryClicks::One);
    };
    let invalid = |reason: String| DecodeError::Invalid { field, reason };
    let json = match field {
        FIELD_CLICKS_LZ4 => std::borrow::Cow::Owned(decompress(packed).map_err(invalid)?),
        _ => std::borrow::Cow::Borrowed(packed),
    };
    let clicks: Vec<ClickValues> =
        serde_json::from_slice(&json).map_err(|error| invalid(error.to_string()))?;
    if clicks.is_empty() {
        return Err(invalid("no clicks".to_owned()));
    }
    Ok(EntryClicks::Packed(clicks))
}

/// The JSON of a `clicks_lz4` value; refuses a claimed length above
/// [`PACK_MAX_JSON_BYTES`] before allocating it.
pub fn decompress(packed: &[u8]) -> Result<Vec<u8>, String> {
    let (length, block) =
        lz4_flex::block::uncompressed_size(packed).map_err(|error| error.to_string())?;
    if length > PACK_MAX_JSON_BYTES {
        return Err(format!(
            "claims {length} bytes of JSON, more than {PACK_MAX_JSON_BYTES}"
        ));
    }
    let json = lz4_flex::block::decompress(block, length).map_err(|error| error.to_string())?;
    if json.len() != length {
        return Err(format!(
            "expands to {} bytes, not the {length} it claims",
            json.len()
        ));
    }
    Ok(json)
}

/// Whether packs of [`COMPRESS_MIN_CLICKS`] or more are compressed
/// (`CLICKS_PACK_COMPRESSION` of ingest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PackCompression {
    /// `lz4`: `clicks_lz4`, which workers read from this version on.
    #[default]
    Lz4,
    /// `none`: always `clicks`, for workers older than `clicks_lz4`.
    None,
}

impl std::str::FromStr for PackCompression {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "lz4" => Ok(Self::Lz4),
            "none" => Ok(Self::None),
            other => Err(format!("{other:?} is neither lz4 nor none")),
        }
    }
}

/// The field/value pairs of a packed entry: `clicks` (or, from
/// [`COMPRESS_MIN_CLICKS`] clicks on and unless `compression` is `None`,
/// `clicks_lz4`) and `click_count`.
pub fn pack<'a>(
    clicks: impl ExactSizeIterator<Item = &'a ClickValues>,
    compression: PackCompression,
) -> [(&'static str, Vec<u8>); 2] {
    let count = clicks.len();
    let clicks: Vec<&ClickValues> = clicks.collect();
    let json = serde_json::to_vec(&clicks).expect("strings always serialize");
    let packed = if compression == PackCompression::Lz4 && count >= COMPRESS_MIN_CLICKS {
        (
            FIELD_CLICKS_LZ4,
            lz4_flex::block::compress_prepend_size(&json),
        )
    } else {
        (FIELD_CLICKS, json)
    };
    [packed, (FIELD_CLICK_COUNT, count.to_string().into_bytes())]
}

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
    fn entry_signed(signature: &str) -> StreamClick {
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

    fn received() -> DateTime<Utc> {
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
        fn packs_round_trip_click_by_click(
            clicks in proptest::collection::vec(arbitrary_click(), 1..40)
        ) {
            let clicks: Vec<StreamClick> = clicks
                .into_iter()
                .map(|click| StreamClick { click, received_at: received() })
                .collect();
            let values: Vec<ClickValues> = clicks.iter().map(StreamClick::values).collect();
            let pairs = pack(values.iter(), PackCompression::Lz4);
            prop_assert_eq!(pairs[1].1.clone(), clicks.len().to_string().into_bytes());
            let compressed = clicks.len() >= COMPRESS_MIN_CLICKS;
            prop_assert_eq!(pairs[0].0, if compressed { FIELD_CLICKS_LZ4 } else { FIELD_CLICKS });
            prop_assert_eq!(unpack(&pairs), Ok(EntryClicks::Packed(values)));
            prop_assert_eq!(decode_entry(&pairs), Ok(clicks));
        }

        #[test]
        fn arbitrary_compressed_packs_never_panic(
            claimed in 0_u32..4096,
            block in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            // A plausible claimed length, so the block itself is decoded.
            let mut packed = claimed.to_le_bytes().to_vec();
            packed.extend(block);
            let _ = unpack(&[(FIELD_CLICKS_LZ4.as_bytes(), packed)]);
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

    #[test]
    fn a_compressed_pack_is_smaller_and_its_claimed_length_is_checked() {
        let values: Vec<ClickValues> = (0..100)
            .map(|n| {
                let mut click = entry_signed(&format!("bench-{n:020}"));
                click.click.click_id = format!("run-b1-{n}");
                click.values()
            })
            .collect();
        let json = serde_json::to_vec(&values).expect("json");
        let pairs = pack(values.iter(), PackCompression::Lz4);
        assert_eq!(pairs[0].0, FIELD_CLICKS_LZ4);
        assert!(
            pairs[0].1.len() * 2 < json.len(),
            "{} bytes compressed of {}",
            pairs[0].1.len(),
            json.len()
        );
        assert_eq!(decompress(&pairs[0].1), Ok(json.clone()));
        let plain = pack(values.iter(), PackCompression::None);
        assert_eq!(plain[0], (FIELD_CLICKS, json.clone()));
        assert_eq!(unpack(&plain), unpack(&pairs));
        assert_eq!("none".parse(), Ok(PackCompression::None));
        assert_eq!("lz4".parse(), Ok(PackCompression::Lz4));
        assert!("zstd".parse::<PackCompression>().is_err());

        let refused = |packed: Vec<u8>| {
            matches!(
                unpack(&[(FIELD_CLICKS_LZ4.as_bytes(), packed)]),
                Err(DecodeError::Invalid {
                    field: FIELD_CLICKS_LZ4,
                    ..
                })
            )
        };
        // A length past the limit is refused before anything is allocated.
        let mut huge = pairs[0].1.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(refused(huge));
        // A length that lies either way, a cut block, plain JSON.
        for claimed in [json.len() - 1, json.len() + 1] {
            let mut lying = pairs[0].1.clone();
            lying[..4].copy_from_slice(&(claimed as u32).to_le_bytes());
            assert!(refused(lying), "claims {claimed}");
        }
        assert!(refused(pairs[0].1[..pairs[0].1.len() / 2].to_vec()));
        assert!(refused(json));
        assert!(refused(Vec::new()));
    }

    #[test]
    fn a_malformed_pack_is_refused_whole_and_a_bad_click_alone() {
        for bad in ["", "[]", "{}", "[[\"a\"]]", "[[1,2,3,4,5,6]]"] {
            let pairs = [(FIELD_CLICKS, bad)];
            assert!(
                matches!(
                    unpack(&pairs),
                    Err(DecodeError::Invalid {
                        field: FIELD_CLICKS,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let good = [
            "a",
            "7",
            "s",
            "2025-06-11T14:00:01.123456Z",
            "sig",
            "2025-06-11T14:00:01.123456Z",
        ]
        .map(str::to_owned);
        let mut bad = good.clone();
        bad[1] = "0".to_owned();
        let pairs = pack([good.clone(), bad.clone()].iter(), PackCompression::Lz4);
        let EntryClicks::Packed(clicks) = unpack(&pairs).expect("a pack") else {
            panic!("not a pack");
        };
        assert!(StreamClick::decode_values(&clicks[0]).is_ok());
        assert!(StreamClick::decode_values(&clicks[1]).is_err());
        assert!(decode_entry(&pairs).is_err());
    }
}
