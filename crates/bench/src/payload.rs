//! Click bodies, written without intermediate allocations into a reused buffer.
//!
//! Every click has a unique `click_id` (`<run>-<tag><conn>-<seq>`), one of
//! [`PAIRS`] (offer, source) pairs and a timestamp spread over [`DAYS`] UTC
//! days, so the aggregate table sees a realistic number of rows.

use bytes::{BufMut, Bytes, BytesMut};

/// Distinct (offer_id, source) pairs: [`OFFERS`] offers times [`SOURCES`].
pub const PAIRS: u64 = 2_000;
const OFFERS: u64 = 500;
const SOURCES: [&str; 4] = ["network_1", "network_2", "network_3", "network_4"];
const FIRST_OFFER_ID: u64 = 10_001;
/// Timestamps fall on 2025-06-09, -10 and -11.
pub const DAYS: u64 = 3;
const FIRST_DAY: u64 = 9;
const SECONDS_PER_DAY: u64 = 86_400;

/// A short random name for one bench run: prefixes its click ids, stream key
/// and database.
pub fn new_run_id() -> String {
    let n: u32 = rand::random();
    format!("{n:08x}")
}

/// Writes clicks of one sender; cheap to create, one per connection.
#[derive(Debug)]
pub struct ClickGen {
    /// `<run>-<tag><conn>-`
    prefix: Vec<u8>,
    seq: u64,
    rng: u64,
}

impl ClickGen {
    pub fn new(run: &str, tag: &str, conn: usize) -> Self {
        let prefix = format!("{run}-{tag}{conn}-").into_bytes();
        // Any odd, connection-specific seed will do; the stream need not be random.
        let rng =
            0x9E37_79B9_7F4A_7C15_u64 ^ ((conn as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self {
            prefix,
            seq: 0,
            rng: rng | 1,
        }
    }

    /// One click as the body of `POST /api/webhook/clicks`.
    pub fn single(&mut self, buf: &mut BytesMut) -> Bytes {
        buf.clear();
        self.write_click(buf);
        buf.split().freeze()
    }

    /// `count` clicks as the body of `POST /api/webhook/clicks/batch`.
    pub fn batch(&mut self, count: u64, buf: &mut BytesMut) -> Bytes {
        buf.clear();
        buf.reserve(24 + count as usize * 190);
        buf.put_slice(b"{\"clicks\":[");
        for i in 0..count {
            if i > 0 {
                buf.put_u8(b',');
            }
            self.write_click(buf);
        }
        buf.put_slice(b"]}");
        buf.split().freeze()
    }

    /// `count` (at most 1000) clicks as ingest parses them from a batch webhook.
    pub fn clicks(&mut self, count: u64, buf: &mut BytesMut) -> anyhow::Result<Vec<domain::Click>> {
        let body = self.batch(count, buf);
        let items = domain::parse_batch(&body)
            .map_err(|errors| anyhow::anyhow!("generated batch refused: {errors:?}"))?;
        let clicks: Vec<domain::Click> = items.into_iter().filter_map(Result::ok).collect();
        if clicks.len() as u64 != count {
            anyhow::bail!(
                "only {} of {count} generated clicks are valid",
                clicks.len()
            );
        }
        Ok(clicks)
    }

    /// The `click_id` of the click written last.
    pub fn last_click_id(&self) -> String {
        let mut id = String::from_utf8_lossy(&self.prefix).into_owned();
        id.push_str(itoa::Buffer::new().format(self.seq.saturating_sub(1)));
        id
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for spreading pairs and timestamps.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn write_click(&mut self, buf: &mut BytesMut) {
        let seq = self.seq;
        self.seq += 1;
        let random = self.next_random();
        let pair = random % PAIRS;
        let second = (random >> 16) % (DAYS * SECONDS_PER_DAY);
        let mut digits = itoa::Buffer::new();

        buf.put_slice(b"{\"click_id\":\"");
        buf.put_slice(&self.prefix);
        buf.put_slice(digits.format(seq).as_bytes());
        buf.put_slice(b"\",\"offer_id\":");
        buf.put_slice(digits.format(FIRST_OFFER_ID + pair % OFFERS).as_bytes());
        buf.put_slice(b",\"source\":\"");
        buf.put_slice(SOURCES[(pair / OFFERS) as usize].as_bytes());
        buf.put_slice(b"\",\"timestamp\":\"2025-06-");
        put_two_digits(buf, FIRST_DAY + second / SECONDS_PER_DAY);
        buf.put_u8(b'T');
        put_two_digits(buf, second % SECONDS_PER_DAY / 3600);
        buf.put_u8(b':');
        put_two_digits(buf, second % 3600 / 60);
        buf.put_u8(b':');
        put_two_digits(buf, second % 60);
        buf.put_slice(b"Z\",\"signature\":\"bench-");
        buf.put_slice(digits.format(random >> 8).as_bytes());
        buf.put_slice(b"\"}");
    }
}

fn put_two_digits(buf: &mut BytesMut, value: u64) {
    buf.put_u8(b'0' + (value / 10 % 10) as u8);
    buf.put_u8(b'0' + (value % 10) as u8);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn single_bodies_are_valid_clicks_with_unique_ids() {
        let mut generator = ClickGen::new("r1", "s", 3);
        let mut buf = BytesMut::new();
        let mut ids = HashSet::new();
        for _ in 0..1000 {
            let body = generator.single(&mut buf);
            let click: serde_json::Value = serde_json::from_slice(&body).expect("json");
            let id = click["click_id"].as_str().expect("click_id").to_owned();
            assert_eq!(id, generator.last_click_id());
            assert!(id.starts_with("r1-s3-"));
            assert!(ids.insert(id));
            let offer = click["offer_id"].as_u64().expect("offer_id");
            assert!((FIRST_OFFER_ID..FIRST_OFFER_ID + OFFERS).contains(&offer));
            assert!(SOURCES.contains(&click["source"].as_str().expect("source")));
            let timestamp = click["timestamp"].as_str().expect("timestamp");
            let day = &timestamp[..10];
            assert!(
                ["2025-06-09", "2025-06-10", "2025-06-11"].contains(&day),
                "{timestamp}"
            );
            assert_eq!(timestamp.len(), 20, "{timestamp}");
            assert!(timestamp.ends_with('Z'));
            assert!(!click["signature"].as_str().expect("signature").is_empty());
        }
    }

    #[test]
    fn batches_hold_the_requested_count() {
        let mut generator = ClickGen::new("r2", "b", 0);
        let mut buf = BytesMut::new();
        let body = generator.batch(1000, &mut buf);
        let batch: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let clicks = batch["clicks"].as_array().expect("clicks");
        assert_eq!(clicks.len(), 1000);
        let ids: HashSet<&str> = clicks
            .iter()
            .map(|c| c["click_id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids.len(), 1000);
        let next = generator.single(&mut buf);
        assert!(!next.is_empty());
    }

    #[test]
    fn parsed_clicks_match_the_batch_body() {
        let mut generator = ClickGen::new("r4", "d", 0);
        let mut buf = BytesMut::new();
        let clicks = generator.clicks(1000, &mut buf).expect("valid clicks");
        assert_eq!(clicks.len(), 1000);
        assert_eq!(clicks[0].click_id, "r4-d0-0");
        assert_eq!(clicks[999].click_id, generator.last_click_id());
    }

    #[test]
    fn pairs_cover_the_pool() {
        let mut generator = ClickGen::new("r3", "s", 1);
        let mut buf = BytesMut::new();
        let mut pairs = HashSet::new();
        for _ in 0..40_000 {
            let body = generator.single(&mut buf);
            let click: serde_json::Value = serde_json::from_slice(&body).expect("json");
            pairs.insert((click["offer_id"].as_u64(), click["source"].to_string()));
        }
        assert!(pairs.len() > 1_900, "{}", pairs.len());
        assert!(pairs.len() as u64 <= PAIRS);
    }
}
