//! Key names, shard routing and the one-slot rule.
//!
//! Everything here is pure: the names are documented in the crate doc
//! (`lib.rs`), the one place that describes the layout.

/// The consumer group every worker joins (default of `WORKER_GROUP`).
pub const DEFAULT_GROUP: &str = "clicks-workers";
/// Default stream key (`CLICKS_QUEUE_NAME`), compat.
pub const DEFAULT_QUEUE: &str = "clicks-processing";
/// Appended to a stream key to name its dead-letter stream (same slot).
pub const DEAD_LETTER_SUFFIX: &str = ":dead-letter";
/// Between the queue name and a Standard Webhooks message id.
pub const WEBHOOK_ID_INFIX: &str = ":webhook-id:";
/// Prefix of every report cache key.
pub const REPORT_CACHE_PREFIX: &str = "reports:cache:v1:";
/// Prefix of the reports dashboard's sessions.
pub const DASHBOARD_SESSION_PREFIX: &str = "reports:session:v1:";

/// Number of Redis Cluster hash slots.
pub const SLOTS: u16 = 16_384;

/// The stream keys of one queue: one key, or N hash-tagged shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    queue: String,
    shards: Vec<String>,
}

impl Layout {
    /// `shards` ≤ 1 keeps the compat single key `queue`.
    pub fn new(queue: &str, shards: u32) -> Self {
        let shards = if shards <= 1 {
            vec![queue.to_owned()]
        } else {
            (0..shards)
                .map(|shard| format!("{queue}:{{{}}}", shard_tag(shard, shards)))
                .collect()
        };
        Self {
            queue: queue.to_owned(),
            shards,
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The stream keys, shard 0 first.
    pub fn streams(&self) -> &[String] {
        &self.shards
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard of a click: where its `offer_id` hashes to.
    pub fn shard_of(&self, offer_id: u64) -> usize {
        shard_of(offer_id, self.shards.len())
    }

    /// Where a Standard Webhooks message id is remembered.
    pub fn webhook_id_key(&self, id: &str) -> String {
        format!("{}{WEBHOOK_ID_INFIX}{id}", self.queue)
    }
}

/// The dead-letter stream of `stream`.
pub fn dead_letter_key(stream: &str) -> String {
    format!("{stream}{DEAD_LETTER_SUFFIX}")
}

/// The report cache key of a digest (hex).
pub fn report_cache_key(digest_hex: &str) -> String {
    format!("{REPORT_CACHE_PREFIX}{digest_hex}")
}

/// The key of a dashboard session, by the digest (hex) of its id.
pub fn dashboard_session_key(digest_hex: &str) -> String {
    format!("{DASHBOARD_SESSION_PREFIX}{digest_hex}")
}

/// The hash tag of shard `shard` of `shards`: the first of `0`, `0.1`,
/// `0.2`, … whose slot lies in the shard's share of the slot space, the
/// `shard`-th of `shards` equal ranges. A cluster whose masters hold equal
/// contiguous ranges (what `redis-cli --cluster create` makes) then holds
/// equal numbers of shards on each master whenever `shards` is a multiple
/// of the masters. Fixed forever: every replica of every binary derives the
/// same keys.
pub fn shard_tag(shard: u32, shards: u32) -> String {
    let shards = u64::from(shards.max(1));
    let low = u64::from(shard) * u64::from(SLOTS) / shards;
    let high = (u64::from(shard) + 1) * u64::from(SLOTS) / shards;
    let wanted = |tag: &str| (low..high).contains(&u64::from(slot_of(tag.as_bytes())));
    let plain = shard.to_string();
    if wanted(&plain) {
        return plain;
    }
    (1u32..)
        .map(|attempt| format!("{shard}.{attempt}"))
        .find(|tag| wanted(tag))
        .unwrap_or(plain)
}

/// The shard, `0..shards`, of a click with `offer_id`: FNV-1a (64 bit) of
/// the id in decimal. Every aggregate row a click adds to belongs to one
/// offer, so the batches of two shards touch disjoint rows and commit side
/// by side. Fixed forever, so every ingest replica routes a click the same way.
pub fn shard_of(offer_id: u64, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let mut digits = itoa::Buffer::new();
    (fnv1a(digits.format(offer_id).as_bytes()) % shards as u64) as usize
}

fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// The Redis Cluster slot of a key: CRC16 of its hash tag (the part inside
/// the first non-empty `{…}`) or of the whole key.
pub fn slot_of(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&byte| byte == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&byte| byte == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(tagged) % SLOTS
}

/// A pipeline whose commands all touch one slot, so Redis Cluster can run
/// it on one node. A command on a key of another slot panics in debug
/// builds (every test, in both topologies): a cross-slot pipeline would
/// work against one node and fail only in production on a cluster.
pub(crate) struct SlotPipeline {
    pipe: redis::Pipeline,
    slot: Option<u16>,
    /// The first command's key: where the pipeline goes.
    key: Option<String>,
}

impl SlotPipeline {
    pub(crate) fn new() -> Self {
        Self {
            pipe: redis::pipe(),
            slot: None,
            key: None,
        }
    }

    /// Starts `name key …`.
    pub(crate) fn cmd(&mut self, name: &str, key: &str) -> &mut redis::Pipeline {
        let slot = slot_of(key.as_bytes());
        debug_assert!(
            self.slot.is_none_or(|first| first == slot),
            "cross-slot pipeline: `{key}` is in slot {slot}, the pipeline in {:?}",
            self.slot
        );
        if self.slot.is_none() {
            self.slot = Some(slot);
            self.key = Some(key.to_owned());
        }
        self.pipe.cmd(name).arg(key)
    }

    /// A command without a key (`WAIT`): it runs where the others do.
    pub(crate) fn keyless(&mut self, name: &str) -> &mut redis::Pipeline {
        self.pipe.cmd(name)
    }

    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slot.is_none()
    }

    pub(crate) fn pipeline(&self) -> &redis::Pipeline {
        &self.pipe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_shard_is_the_queue_itself() {
        let layout = Layout::new(DEFAULT_QUEUE, 1);
        assert_eq!(layout.streams(), ["clicks-processing"]);
        assert_eq!(
            Layout::new(DEFAULT_QUEUE, 0).streams(),
            ["clicks-processing"]
        );
        assert_eq!(layout.shard_of(12345), 0);
        assert_eq!(
            layout.webhook_id_key("msg_1"),
            "clicks-processing:webhook-id:msg_1"
        );
    }

    #[test]
    fn slots_follow_the_reference_values() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot_of(b"123456789"), 12739);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    }

    #[test]
    fn shards_spread_evenly_over_equal_slot_ranges() {
        for shards in [3u32, 6, 12, 16, 24] {
            let layout = Layout::new(DEFAULT_QUEUE, shards);
            for masters in [1u32, 2, 3, 4, 6] {
                if shards % masters != 0 {
                    continue;
                }
                let mut counts = vec![0u32; masters as usize];
                for key in layout.streams() {
                    let slot = u32::from(slot_of(key.as_bytes()));
                    let master = (0..masters)
                        .find(|j| slot < (j + 1) * u32::from(SLOTS) / masters)
                        .expect("a slot is below 16384");
                    counts[master as usize] += 1;
                }
                assert!(
                    counts.iter().all(|count| *count == shards / masters),
                    "{shards} shards over {masters} masters: {counts:?}"
                );
            }
        }
    }

    #[test]
    fn a_shard_and_its_dead_letters_share_a_slot() {
        for key in Layout::new(DEFAULT_QUEUE, 12).streams() {
            assert!(key.starts_with("clicks-processing:{"));
            assert_eq!(
                slot_of(key.as_bytes()),
                slot_of(dead_letter_key(key).as_bytes())
            );
        }
    }

    #[test]
    fn the_hash_is_fixed() {
        // FNV-1a 64 test vectors: routing must never change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn offers_spread_evenly() {
        let mut counts = [0u32; 8];
        for offer_id in 1..=80_000u64 {
            counts[shard_of(offer_id, 8)] += 1;
        }
        for count in counts {
            assert!((9_000..=11_000).contains(&count), "{count}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "cross-slot pipeline")]
    fn a_cross_slot_pipeline_is_caught() {
        let mut pipe = SlotPipeline::new();
        pipe.cmd("XADD", "a:{1}");
        pipe.cmd("XADD", "a:{2}");
    }

    proptest! {
        #[test]
        fn a_click_always_lands_on_one_valid_shard(id in 1u64.., shards in 1usize..64) {
            let shard = shard_of(id, shards);
            prop_assert!(shard < shards);
            prop_assert_eq!(shard, shard_of(id, shards));
        }
    }
}
