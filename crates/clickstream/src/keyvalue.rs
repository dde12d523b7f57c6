//! The plain keys the service keeps besides its streams: Standard Webhooks
//! message ids (replay protection), report bodies (the cache) and the
//! reports dashboard's sessions.
//! Each command touches one key, so they run on any topology.

use std::time::Duration;

use redis::AsyncCommands;
use redis::RedisResult;

use crate::Conn;
use crate::layout::{Layout, dashboard_session_key, report_cache_key};

/// Whether the message id was remembered within its window.
pub async fn webhook_id_seen(conn: &mut Conn, layout: &Layout, id: &str) -> RedisResult<bool> {
    redis::cmd("EXISTS")
        .arg(layout.webhook_id_key(id))
        .query_async(conn)
        .await
}

/// Remembers a message id whose clicks are in the stream, for `ttl`.
pub async fn remember_webhook_id(
    conn: &mut Conn,
    layout: &Layout,
    id: &str,
    ttl: Duration,
) -> RedisResult<()> {
    redis::cmd("SET")
        .arg(layout.webhook_id_key(id))
        .arg(1)
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .query_async(conn)
        .await
}

/// The cached report body under `digest_hex`, if any.
pub async fn cached_report(conn: &mut Conn, digest_hex: &str) -> RedisResult<Option<Vec<u8>>> {
    conn.get(report_cache_key(digest_hex)).await
}

/// Caches a report body under `digest_hex` for `ttl`.
pub async fn cache_report(
    conn: &mut Conn,
    digest_hex: &str,
    body: &[u8],
    ttl: Duration,
) -> RedisResult<()> {
    conn.set_ex(report_cache_key(digest_hex), body, ttl.as_secs().max(1))
        .await
}

/// Stores a dashboard session's record under the digest of its id, for `ttl`.
pub async fn open_session(
    conn: &mut Conn,
    digest_hex: &str,
    record: &str,
    ttl: Duration,
) -> RedisResult<()> {
    conn.set_ex(
        dashboard_session_key(digest_hex),
        record,
        ttl.as_secs().max(1),
    )
    .await
}

/// The record of a live dashboard session, if any.
pub async fn session(conn: &mut Conn, digest_hex: &str) -> RedisResult<Option<String>> {
    conn.get(dashboard_session_key(digest_hex)).await
}

/// Ends a dashboard session (nothing happens when it has already ended).
pub async fn close_session(conn: &mut Conn, digest_hex: &str) -> RedisResult<()> {
    conn.del(dashboard_session_key(digest_hex)).await
}
