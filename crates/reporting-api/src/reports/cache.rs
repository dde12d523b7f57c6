//! A Redis cache of report bodies that is never stale.
//!
//! The worker bumps `report_date_versions` for each UTC date in the same
//! transaction that adds clicks of that date. A cache key is a hash of the
//! normalised query *and* the versions of every UTC date the report covers
//! (one indexed range read), so any commit touching those dates changes the
//! key: an entry is only ever found while it is still exact. TTL only frees
//! memory.
//!
//! Keys: `reports:cache:v1:<sha256 hex>`. Redis failures make the request
//! uncached (with a warning), never failed.

use std::time::Duration;

use chrono::NaiveDate;
use redis::AsyncCommands;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use super::sql;

/// Prefix of every cache key.
pub const KEY_PREFIX: &str = "reports:cache:v1:";
/// Longest wait for Redis before going on without the cache.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The cache key of `normalised_query` over UTC dates `first..=last`, as
/// their versions are now.
pub async fn key(
    db: &DatabaseConnection,
    normalised_query: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<String, DbErr> {
    let rows = db
        .query_all_raw(sql::date_versions(first, last).statement())
        .await?;
    let mut hash = Sha256::new();
    hash.update(normalised_query.as_bytes());
    for row in rows {
        let date: NaiveDate = row.try_get_by_index(0)?;
        let version: u64 = row.try_get_by_index(1)?;
        hash.update(format!("\n{date}={version}").as_bytes());
    }
    Ok(format!("{KEY_PREFIX}{}", hex(&hash.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cached body, if any; `None` on a miss and when Redis fails.
pub async fn get(pool: &deadpool_redis::Pool, key: &str) -> Option<Vec<u8>> {
    let result = tokio::time::timeout(REDIS_TIMEOUT, async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        conn.get::<_, Option<Vec<u8>>>(key)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    match result {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            tracing::warn!(error, "report cache read failed; answering uncached");
            None
        }
        Err(_) => {
            tracing::warn!("report cache read timed out; answering uncached");
            None
        }
    }
}

/// Stores `body` for `ttl_secs`; failures are logged and otherwise ignored.
pub async fn put(pool: &deadpool_redis::Pool, key: &str, body: &[u8], ttl_secs: u64) {
    let result = tokio::time::timeout(REDIS_TIMEOUT, async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        conn.set_ex::<_, _, ()>(key, body, ttl_secs)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(error, "report cache write failed"),
        Err(_) => tracing::warn!("report cache write timed out"),
    }
}
