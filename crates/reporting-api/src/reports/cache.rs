//! A Redis cache of report bodies that is never stale.
//!
//! The worker bumps `report_date_versions` for each UTC date in the same
//! transaction that adds clicks of that date to the aggregates (a fold). A cache key is a hash of the
//! normalised query *and* the versions of every UTC date the report covers
//! (one indexed range read), so any commit touching those dates changes the
//! key: an entry is only ever found while it is still exact. TTL only frees
//! memory. That holds only if a body is stored under the versions of the
//! data it was computed from: `snapshot` makes sure of it.
//!
//! Keys: `clickstream::layout::report_cache_key` of the hash. Redis failures
//! make the request uncached (with a warning), never failed.

use std::time::Duration;

use sha2::{Digest, Sha256};

use storage::reports::DateVersions;

/// Longest wait for Redis before going on without the cache.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The cache key (a hex digest) of `normalised_query` at `versions` (those
/// of every UTC date the report covers).
pub fn key(normalised_query: &str, versions: &DateVersions) -> String {
    let mut hash = Sha256::new();
    hash.update(normalised_query.as_bytes());
    for (date, version) in versions.iter() {
        hash.update(format!("\n{date}={version}").as_bytes());
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cached body, if any; `None` on a miss and when Redis fails.
pub async fn get(redis: &clickstream::Conn, key: &str) -> Option<Vec<u8>> {
    let mut conn = redis.clone();
    let result = tokio::time::timeout(
        REDIS_TIMEOUT,
        clickstream::keyvalue::cached_report(&mut conn, key),
    )
    .await;
    match result {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            tracing::warn!(%error, "report cache read failed; answering uncached");
            None
        }
        Err(_) => {
            tracing::warn!("report cache read timed out; answering uncached");
            None
        }
    }
}

/// Stores `body` for `ttl_secs`; failures are logged and otherwise ignored.
pub async fn put(redis: &clickstream::Conn, key: &str, body: &[u8], ttl_secs: u64) {
    let mut conn = redis.clone();
    let result = tokio::time::timeout(
        REDIS_TIMEOUT,
        clickstream::keyvalue::cache_report(&mut conn, key, body, Duration::from_secs(ttl_secs)),
    )
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "report cache write failed"),
        Err(_) => tracing::warn!("report cache write timed out"),
    }
}
