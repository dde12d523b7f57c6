//! Click bodies, written without intermediate allocations into a reused buffer.
//!
//! Two traffic models ([`Traffic`]):
//!
//! - **spread** (the default): every click has a unique `click_id`
//!   (`<run>-<tag><conn>-<seq>`), one of [`PAIRS`] (offer, source) pairs
//!   uniformly and a timestamp spread over [`DAYS`] UTC days in 2025, so every
//!   batch touches many aggregate rows;
//! - **realistic**: what a live deployment sees — 90% of clicks within the
//!   last hour and the rest within the last day, offers skewed (the offer's
//!   index is `OFFERS × u³` for a uniform `u`: the top 5 of the 500 offers
//!   take a fifth of the clicks, the top 50 nearly half) and sources 60/25/10/5%, and 3% of clicks a
//!   resend of one of the 100 before it (same id, same fields).

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

/// Which clicks a generator writes (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Traffic {
    Spread,
    Realistic,
}

/// What `click_id` and `signature` look like (`--ids`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Ids {
    /// `<run>-<tag><conn>-<seq>` and `bench-<digits>`: readable, and very
    /// compressible.
    #[default]
    Readable,
    /// A random UUID-shaped id and a 64-hex-digit signature, as many
    /// senders send them: close to incompressible.
    Opaque,
}

/// Share of realistic clicks that resend an earlier one, in percent.
const RESEND_PERCENT: u64 = 3;
/// How far back a resend reaches.
const RESEND_WINDOW: u64 = 100;
/// Realistic source weights, in percent, in [`SOURCES`] order.
const SOURCE_WEIGHTS: [u64; 4] = [60, 25, 10, 5];

/// Writes clicks of one sender; cheap to create, one per connection.
#[derive(Debug)]
pub struct ClickGen {
    /// `<run>-<tag><conn>-`
    prefix: Vec<u8>,
    seq: u64,
    rng: u64,
    /// The connection's fixed seed: realistic clicks are a function of it and their seq.
    seed: u64,
    traffic: Traffic,
    /// Realistic timestamps count back from here.
    now: chrono::DateTime<chrono::Utc>,
    /// Clicks written that resend an earlier one.
    resends: u64,
    ids: Ids,
    /// Opaque ids are a function of this (the prefix's hash) and the seq, so
    /// they differ between runs, scenarios and connections as readable ones do.
    id_seed: u64,
}

impl ClickGen {
    pub fn new(run: &str, tag: &str, conn: usize) -> Self {
        let prefix = format!("{run}-{tag}{conn}-").into_bytes();
        let id_seed = prefix.iter().fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        // Any odd, connection-specific seed will do; the stream need not be random.
        let rng =
            0x9E37_79B9_7F4A_7C15_u64 ^ ((conn as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self {
            prefix,
            seq: 0,
            rng: rng | 1,
            seed: rng,
            traffic: Traffic::Spread,
            now: chrono::Utc::now(),
            resends: 0,
            ids: Ids::Readable,
            id_seed,
        }
    }

    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = ids;
        self
    }

    pub fn with_traffic(mut self, traffic: Traffic) -> Self {
        self.traffic = traffic;
        self
    }

    /// Clicks written so far that resend an earlier one (stored once).
    pub fn resends(&self) -> u64 {
        self.resends
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
        let mut id = BytesMut::new();
        self.put_click_id(&mut id, self.seq.saturating_sub(1));
        String::from_utf8_lossy(&id).into_owned()
    }

    /// Click `seq`'s id, without quotes.
    fn put_click_id(&self, buf: &mut BytesMut, seq: u64) {
        match self.ids {
            Ids::Readable => {
                buf.put_slice(&self.prefix);
                buf.put_slice(itoa::Buffer::new().format(seq).as_bytes());
            }
            Ids::Opaque => {
                let high = mix(self.id_seed ^ seq);
                let low = mix(self.id_seed ^ seq.rotate_left(32) ^ 0x0A0A_0A0A_0A0A_0A0A);
                let mut hex = [0; 32];
                hex[..16].copy_from_slice(&hex16(high));
                hex[16..].copy_from_slice(&hex16(low));
                for (index, range) in [0..8, 8..12, 12..16, 16..20, 20..32]
                    .into_iter()
                    .enumerate()
                {
                    if index > 0 {
                        buf.put_u8(b'-');
                    }
                    buf.put_slice(&hex[range]);
                }
            }
        }
    }

    /// A signature made of `random`, without quotes.
    fn put_signature(&self, buf: &mut BytesMut, random: u64) {
        match self.ids {
            Ids::Readable => {
                buf.put_slice(b"bench-");
                buf.put_slice(itoa::Buffer::new().format(random >> 8).as_bytes());
            }
            Ids::Opaque => {
                for part in 0..4_u64 {
                    buf.put_slice(&hex16(mix(random ^ part)));
                }
            }
        }
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
        match self.traffic {
            Traffic::Spread => self.write_spread(buf, seq, random),
            Traffic::Realistic => {
                let original = self.original_of(seq);
                if original != seq {
                    self.resends += 1;
                }
                self.write_realistic(buf, original);
            }
        }
    }

    /// Whether realistic click `seq` resends an earlier one (never the first).
    fn is_resend(&self, seq: u64) -> bool {
        seq > 0 && mix(self.seed ^ seq ^ 0x5EED_0F2E_5E4D_0000) % 100 < RESEND_PERCENT
    }

    /// The click realistic slot `seq` writes: itself, or for a resend one of
    /// the [`RESEND_WINDOW`] before it that was written as itself.
    fn original_of(&self, seq: u64) -> u64 {
        if !self.is_resend(seq) {
            return seq;
        }
        let back = mix(self.seed ^ seq.rotate_left(17)) % RESEND_WINDOW.min(seq);
        let mut original = seq - 1 - back;
        while self.is_resend(original) {
            original -= 1;
        }
        original
    }

    fn write_spread(&self, buf: &mut BytesMut, seq: u64, random: u64) {
        let pair = random % PAIRS;
        let second = (random >> 16) % (DAYS * SECONDS_PER_DAY);
        let mut digits = itoa::Buffer::new();

        buf.put_slice(b"{\"click_id\":\"");
        self.put_click_id(buf, seq);
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
        buf.put_slice(b"Z\",\"signature\":\"");
        self.put_signature(buf, random);
        buf.put_slice(b"\"}");
    }

    /// Click `seq` of the realistic model: its fields are a function of
    /// `seq` alone, so a resend repeats them.
    fn write_realistic(&self, buf: &mut BytesMut, seq: u64) {
        let random = mix(self.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let u = (random & 0xF_FFFF) as f64 / f64::from(1 << 20);
        let offer = (OFFERS as f64 * u * u * u) as u64;
        let weight = (random >> 20) % 100;
        let mut source = 0;
        let mut below = SOURCE_WEIGHTS[0];
        while weight >= below {
            source += 1;
            below += SOURCE_WEIGHTS[source];
        }
        let window = if (random >> 28).is_multiple_of(10) {
            SECONDS_PER_DAY
        } else {
            3600
        };
        let seconds_ago = (random >> 32) % window;
        let at = self.now - chrono::Duration::seconds(seconds_ago as i64);
        let mut digits = itoa::Buffer::new();

        buf.put_slice(b"{\"click_id\":\"");
        self.put_click_id(buf, seq);
        buf.put_slice(b"\",\"offer_id\":");
        buf.put_slice(digits.format(FIRST_OFFER_ID + offer).as_bytes());
        buf.put_slice(b",\"source\":\"");
        buf.put_slice(SOURCES[source].as_bytes());
        buf.put_slice(b"\",\"timestamp\":\"");
        buf.put_slice(at.format("%Y-%m-%dT%H:%M:%SZ").to_string().as_bytes());
        buf.put_slice(b"\",\"signature\":\"");
        self.put_signature(buf, random);
        buf.put_slice(b"\"}");
    }
}

/// splitmix64's finaliser: a well-spread function of `x`.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `value` as 16 lowercase hex digits.
fn hex16(value: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    std::array::from_fn(|index| DIGITS[(value >> (60 - 4 * index) & 0xF) as usize])
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
    fn opaque_ids_are_uuid_shaped_unique_and_named_by_last_click_id() {
        let mut buf = BytesMut::new();
        let mut ids = HashSet::new();
        for (tag, conn) in [("s", 0), ("s", 1), ("b", 0)] {
            let mut generator = ClickGen::new("run", tag, conn).with_ids(Ids::Opaque);
            for click in generator.clicks(1000, &mut buf).expect("valid clicks") {
                let shape: Vec<usize> = click.click_id.split('-').map(str::len).collect();
                assert_eq!(shape, [8, 4, 4, 4, 12], "{}", click.click_id);
                assert_eq!(click.signature.len(), 64);
                assert!(click.signature.bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(
                    ids.insert(click.click_id.clone()),
                    "{} twice",
                    click.click_id
                );
            }
            let last = generator.last_click_id();
            assert!(ids.contains(&last), "{last} was not written");
        }
        let mut readable = ClickGen::new("run", "s", 0);
        let click = &readable.clicks(1, &mut buf).expect("valid")[0];
        assert_eq!(click.click_id, "run-s0-0");
        assert_eq!(readable.last_click_id(), "run-s0-0");
        assert!(click.signature.starts_with("bench-"));
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex16(u64::MAX), b"ffffffffffffffff");
    }

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
    fn realistic_traffic_is_recent_skewed_and_resends_a_few() {
        let mut generator = ClickGen::new("r5", "d", 0).with_traffic(Traffic::Realistic);
        let mut buf = BytesMut::new();
        let clicks = generator.clicks(1000, &mut buf).expect("valid clicks");
        let mut more = generator.clicks(1000, &mut buf).expect("valid clicks");
        let mut all = clicks;
        all.append(&mut more);
        let now = chrono::Utc::now();
        let last_hour = all
            .iter()
            .filter(|c| now - c.timestamp <= chrono::Duration::hours(1))
            .count();
        assert!((1700..=1900).contains(&last_hour), "{last_hour}");
        assert!(
            all.iter()
                .all(|c| now - c.timestamp <= chrono::Duration::days(1))
        );
        let top5 = all
            .iter()
            .filter(|c| c.offer_id.get() < FIRST_OFFER_ID + 5)
            .count();
        assert!((330..=530).contains(&top5), "top 5 offers: {top5}");
        let first_source = all.iter().filter(|c| c.source == SOURCES[0]).count();
        assert!((1100..=1300).contains(&first_source), "{first_source}");
        let ids: HashSet<&str> = all.iter().map(|c| c.click_id.as_str()).collect();
        let resends = generator.resends() as usize;
        assert!((30..=90).contains(&resends), "{resends}");
        assert_eq!(ids.len(), all.len() - resends, "each resend repeats an id");
        // A resend is the same click: same id, same fields.
        let mut by_id = std::collections::HashMap::new();
        for click in &all {
            if let Some(first) = by_id.insert(click.click_id.clone(), click.clone()) {
                assert_eq!(&first, click);
            }
        }
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
