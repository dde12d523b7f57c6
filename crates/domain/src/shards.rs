//! Spreading the click stream over several Redis keys.
//!
//! With `CLICKS_STREAM_SHARDS = 1` (the default) the stream is the one key
//! `CLICKS_QUEUE_NAME`, as existing deployments know it. With N > 1 the
//! stream is N keys, `<CLICKS_QUEUE_NAME>:{0}` … `<CLICKS_QUEUE_NAME>:{N-1}`:
//! the `{…}` hash tag gives each shard its own Redis Cluster slot (and its
//! dead-letter stream, `<key>:dead-letter`, the same slot as the shard), so
//! shards can live on different cluster nodes. Every worker process reads
//! every shard.
//!
//! Ingest puts a click on the shard its `offer_id` hashes to. Every aggregate
//! row a click adds to — per (date, offer, source), per (hour, offer,
//! source), per (date, offer) — belongs to one offer, so the batches of two
//! shards touch disjoint rows and commit side by side instead of queueing on
//! each other's row locks. (Routing by `click_id` spread the load as evenly
//! but made every pair of concurrent batches collide on those rows.)
//! Exactness never depends on the routing: a click sent twice is stored once
//! by the `click_id` unique key whichever shards its copies took.
//!
//! The hash is FNV-1a (64 bit) of the key's bytes (the `offer_id` in
//! decimal, as in the stream entry): fixed forever, so every ingest replica,
//! whatever its build, routes a click the same way.

/// The stream keys of `queue` split into `shards` (at least one).
pub fn stream_keys(queue: &str, shards: u32) -> Vec<String> {
    if shards <= 1 {
        return vec![queue.to_owned()];
    }
    (0..shards)
        .map(|shard| format!("{queue}:{{{shard}}}"))
        .collect()
}

/// The shard, `0..shards`, of a click whose `offer_id` is `offer_id` (in
/// decimal, as the stream entry carries it).
pub fn shard_of(offer_id: &str, shards: u32) -> usize {
    if shards <= 1 {
        return 0;
    }
    (fnv1a(offer_id.as_bytes()) % u64::from(shards)) as usize
}

fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_shard_is_the_queue_itself() {
        assert_eq!(stream_keys("clicks-processing", 1), ["clicks-processing"]);
        assert_eq!(stream_keys("clicks-processing", 0), ["clicks-processing"]);
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn shards_are_hash_tagged() {
        assert_eq!(
            stream_keys("clicks-processing", 3),
            [
                "clicks-processing:{0}",
                "clicks-processing:{1}",
                "clicks-processing:{2}"
            ]
        );
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
        let shards = 8;
        let mut counts = vec![0u32; shards as usize];
        for offer_id in 1..=80_000u64 {
            counts[shard_of(&offer_id.to_string(), shards)] += 1;
        }
        for count in counts {
            assert!((9_000..=11_000).contains(&count), "{count}");
        }
    }

    proptest! {
        #[test]
        fn a_click_always_lands_on_one_valid_shard(id in "[0-9]{1,20}", shards in 1u32..64) {
            let shard = shard_of(&id, shards);
            prop_assert!(shard < shards as usize);
            prop_assert_eq!(shard, shard_of(&id, shards));
        }
    }
}
