//! Packed entries: many clicks of one shard in one stream entry, as plain
//! JSON (`clicks`) or, from [`COMPRESS_MIN_CLICKS`] clicks on, as one LZ4
//! block (`clicks_lz4`). The format is documented with the one-click form,
//! in the parent module.

use super::{ClickValues, DecodeError};

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
/// `PACK_MAX_JSON_BYTES` (1 MiB) before allocating it.
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::{entry_signed, received};
    use super::super::{StreamClick, decode_entry};
    use super::*;
    use crate::click::tests::arbitrary_click;

    proptest! {
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
