//! Dashboard sessions: the reporting key is presented once and exchanged for
//! a random session id in an `HttpOnly`, `SameSite=Strict` cookie, so no
//! page script, URL or browser storage ever holds the key.
//!
//! Redis keeps each session under the SHA-256 of its id (a leaked Redis
//! dump opens no session) with the SHA-256 of the key it was opened with (a
//! dump holds no key) and expires it after `DASHBOARD_SESSION_MINUTES`. On
//! every use the key is looked up by that digest in the keys in force now:
//! a session stands for its key only while that key is in force with
//! `reports:read`, only for reading reports (the export routes want the
//! key), and sees only the rows that key sees.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::keys::{ApiKeys, Key};

/// The cookie's name.
pub const COOKIE: &str = "clicks_session";
/// What a session may do.
pub const SCOPES: &[&str] = &["reports:read"];
/// Longest wait for Redis on a session.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// What Redis keeps of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// SHA-256 (hex) of the reporting key.
    key: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Record {
    /// The session's key among `keys` (those in force now), if it is
    /// there and may read reports.
    pub fn key_in(&self, keys: &ApiKeys) -> Option<Key> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&self.key, &mut digest).ok()?;
        keys.by_digest(&digest)
            .filter(|key| key.allows(domain::access::Scope::ReportsRead))
    }

    /// The body of `GET`/`POST /dashboard/session`, naming its key.
    pub fn describe(&self, key: &Key) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "expires_at": chrono::DateTime::from_timestamp(self.expires_at, 0)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "expires_in": (self.expires_at - now).max(0),
            "scopes": SCOPES,
            "name": key.name,
        })
    }
}

/// The session id of the request's cookie, when it has the form of one.
pub fn cookie_id(request: &HttpRequest) -> Option<String> {
    let cookie = request.cookie(COOKIE)?;
    let id = cookie.value();
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// The cookie carrying `id` for `ttl`; `secure` when the page came over HTTPS.
pub fn cookie(id: &str, ttl: Duration, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE, id.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// The cookie that makes the browser forget the session.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = cookie("", Duration::ZERO, secure);
    cookie.make_removal();
    cookie
}

fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn unavailable() -> ApiError {
    ApiError::Unavailable {
        message: "Sessions are unavailable",
        extra: json!({}),
    }
}

async fn redis<T>(
    call: impl Future<Output = clickstream::RedisResult<T>>,
    what: &'static str,
) -> Result<T, ApiError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!(%error, what, "dashboard session: Redis failed");
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!(what, "dashboard session: Redis timed out");
            Err(unavailable())
        }
    }
}

/// Opens a session for the key whose SHA-256 is `key_digest` (already
/// accepted); returns its id and record.
pub async fn open(
    conn: &clickstream::Conn,
    key_digest: &[u8; 32],
    ttl: Duration,
) -> Result<(String, Record), ApiError> {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let record = Record {
        key: hex::encode(key_digest),
        expires_at: chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(0),
    };
    let text = serde_json::to_string(&record).map_err(|e| ApiError::Internal(e.into()))?;
    let mut conn = conn.clone();
    redis(
        clickstream::keyvalue::open_session(&mut conn, &digest(&id), &text, ttl),
        "open",
    )
    .await?;
    Ok((id, record))
}

/// The live session `id`, if any.
pub async fn find(conn: &clickstream::Conn, id: &str) -> Result<Option<Record>, ApiError> {
    let mut conn = conn.clone();
    let text = redis(
        clickstream::keyvalue::session(&mut conn, &digest(id)),
        "find",
    )
    .await?;
    Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
}

/// Ends session `id`.
pub async fn close(conn: &clickstream::Conn, id: &str) -> Result<(), ApiError> {
    let mut conn = conn.clone();
    redis(
        clickstream::keyvalue::close_session(&mut conn, &digest(id)),
        "close",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_site() {
        let text = cookie(&"a".repeat(64), Duration::from_secs(3600), true).to_string();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let plain = cookie("x", Duration::from_secs(60), false).to_string();
        assert!(!plain.contains("Secure"), "{plain}");
        let removal = removal_cookie(false).to_string();
        assert!(removal.contains("Max-Age=0"), "{removal}");
    }

    #[test]
    fn a_record_names_its_key_by_digest_only() {
        let keys = ApiKeys::from_list("the-key").expect("keys");
        let record = Record {
            key: hex::encode(domain::access::key_digest(b"the-key")),
            expires_at: 0,
        };
        let key = record.key_in(&keys).expect("in force");
        assert_eq!(key.name, "REPORTING_API_KEYS[1]");
        assert_eq!(record.describe(&key)["name"], "REPORTING_API_KEYS[1]");
        assert!(
            !serde_json::to_string(&record)
                .expect("json")
                .contains("the-key")
        );
        let other = ApiKeys::from_list("another").expect("keys");
        assert!(record.key_in(&other).is_none());
        let rotated = ApiKeys::from_list("another, the-key").expect("keys");
        assert_eq!(
            record.key_in(&rotated).expect("kept").name,
            "REPORTING_API_KEYS[2]"
        );
    }

    #[test]
    fn a_session_stands_only_while_its_key_may_read_reports() {
        let file = domain::access::parse(
            "[[reporting_key]]\nname = \"exporter\"\nkey = \"the-key\"\nscopes = [\"export:read\"]\n",
        )
        .expect("file");
        let record = Record {
            key: hex::encode(domain::access::key_digest(b"the-key")),
            expires_at: 0,
        };
        assert!(record.key_in(&ApiKeys::from_file(&file, None)).is_none());
    }
}
