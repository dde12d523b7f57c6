//! The suite's clicks: each one named by a [`ClickKey`] and rebuilt from it
//! byte for byte, so a resent click is exactly the click sent before, and
//! every `click_id` found in MariaDB maps back to what the senders did.
//!
//! `click_id` is `<prefix>-<namespace>-<seq>`, where the prefix names the run
//! and the scenario. Offers, sources and timestamps are spread by a hash of
//! the key so the aggregates get many rows, over two UTC days and all hours.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat};
use serde_json::json;

/// One click of a scenario: the sender namespace it belongs to and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClickKey {
    pub namespace: u32,
    pub seq: u32,
}

const OFFERS: u64 = 40;
const SOURCES: [&str; 5] = ["net_a", "net_b", "net_c", "net_d", "net_e"];
/// The sources of the suite's narrow sender (the other sender may post any).
pub const NARROW_SOURCES: [&str; 3] = ["net_a", "net_b", "net_c"];
/// Timestamps fall on 2025-06-10 and 2025-06-11, UTC.
const SECONDS_SPREAD: u64 = 2 * 86_400;
const FIRST_SECOND: i64 = 1_749_513_600; // 2025-06-10T00:00:00Z

/// Names and writes the clicks of one scenario.
#[derive(Debug, Clone)]
pub struct ClickNames {
    /// `<run>-s<scenario>`
    prefix: String,
}

impl ClickNames {
    pub fn new(run_id: &str, scenario: u8) -> Self {
        Self {
            prefix: format!("{run_id}-s{scenario}"),
        }
    }

    pub fn click_id(&self, key: ClickKey) -> String {
        format!("{}-{}-{}", self.prefix, key.namespace, key.seq)
    }

    /// The key of a `click_id` of this scenario; `None` for anything else.
    pub fn parse(&self, click_id: &str) -> Option<ClickKey> {
        let rest = click_id.strip_prefix(&self.prefix)?.strip_prefix('-')?;
        let (namespace, seq) = rest.split_once('-')?;
        let canonical = |text: &str| !text.starts_with('0') || text == "0";
        if !canonical(namespace) || !canonical(seq) {
            return None;
        }
        Some(ClickKey {
            namespace: namespace.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The click as a JSON value; the same key always gives the same click.
    pub fn click(&self, key: ClickKey) -> serde_json::Value {
        let hash = spread(key);
        let second = FIRST_SECOND + (hash % SECONDS_SPREAD) as i64;
        let nanos = ((hash >> 40) % 1_000_000) as u32 * 1000;
        let timestamp = DateTime::from_timestamp(second, nanos)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        json!({
            "click_id": self.click_id(key),
            "offer_id": offer_id(key),
            "source": source_of(key),
            "timestamp": timestamp,
            "signature": format!("chaos-{hash:016x}"),
        })
    }

    /// The body of `POST /api/webhook/clicks`.
    pub fn single_body(&self, key: ClickKey) -> Bytes {
        Bytes::from(self.click(key).to_string())
    }

    /// The body of `POST /api/webhook/clicks/batch`.
    pub fn batch_body(&self, keys: &[ClickKey]) -> Bytes {
        let clicks: Vec<serde_json::Value> = keys.iter().map(|key| self.click(*key)).collect();
        Bytes::from(json!({ "clicks": clicks }).to_string())
    }
}

/// The `source` of a click.
pub fn source_of(key: ClickKey) -> &'static str {
    SOURCES[((spread(key) >> 29) % SOURCES.len() as u64) as usize]
}

/// The `offer_id` of a click, which decides its stream shard.
pub fn offer_id(key: ClickKey) -> u64 {
    1 + (spread(key) >> 17) % OFFERS
}

/// SplitMix64 of the key: cheap, and every bit depends on both parts.
fn spread(key: ClickKey) -> u64 {
    let mut x =
        (u64::from(key.namespace) << 32 | u64::from(key.seq)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_ids_round_trip_and_foreign_ids_do_not_parse() {
        let names = ClickNames::new("abcd1234", 3);
        let key = ClickKey {
            namespace: 7,
            seq: 12_345,
        };
        let id = names.click_id(key);
        assert_eq!(id, "abcd1234-s3-7-12345");
        assert_eq!(names.parse(&id), Some(key));
        for foreign in [
            "abcd1234-s4-7-12345",
            "abcd1234-s3-7",
            "abcd1234-s3-7-x",
            "abcd1234-s3-07-1",
            "abcd1234-s3-7-01",
            "zzz",
        ] {
            assert_eq!(names.parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn clicks_are_valid_for_ingest_and_the_same_every_time() {
        let names = ClickNames::new("r", 1);
        for seq in 0..2000 {
            let key = ClickKey { namespace: 2, seq };
            let body = names.single_body(key);
            assert_eq!(body, names.single_body(key));
            let click = domain::parse_click(&body).expect("a valid click");
            assert_eq!(click.click_id, names.click_id(key));
            let day = click.timestamp.format("%Y-%m-%d").to_string();
            assert!(day == "2025-06-10" || day == "2025-06-11", "{day}");
        }
        let keys: Vec<ClickKey> = (0..10).map(|seq| ClickKey { namespace: 0, seq }).collect();
        let batch = domain::parse_batch(&names.batch_body(&keys)).expect("a batch");
        assert_eq!(batch.len(), 10);
        assert!(batch.iter().all(Result::is_ok));
    }
}
