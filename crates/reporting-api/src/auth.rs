//! Who may call what: bearer keys (`REPORTING_API_KEYS`) on every
//! `/api/reports/*` and `/api/export/*` route, and on the report routes also
//! a dashboard session (its cookie), which stands for the key it was opened
//! with only while that key is still configured.
//!
//! A presented key is compared with every configured key in constant time.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::dashboard::session;
use crate::error::ApiError;

/// A configured key and the SHA-256 a session records instead of it.
#[derive(Clone)]
struct Key {
    secret: Vec<u8>,
    fingerprint: [u8; 32],
}

/// The accepted keys; `None` when started with `--insecure-no-auth`.
#[derive(Clone)]
pub struct ApiKeys(Option<Vec<Key>>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(keys) => write!(f, "ApiKeys({} keys)", keys.len()),
            None => f.write_str("ApiKeys(disabled)"),
        }
    }
}

/// The SHA-256 of a key: what a session keeps, so Redis never holds a key.
pub fn fingerprint(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

impl ApiKeys {
    /// Parses the comma-separated list; blanks around keys are ignored.
    pub fn from_list(list: &str) -> Option<Self> {
        let keys: Vec<Key> = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(|key| Key {
                secret: key.as_bytes().to_vec(),
                fingerprint: fingerprint(key.as_bytes()),
            })
            .collect();
        (!keys.is_empty()).then_some(Self(Some(keys)))
    }

    /// Every request is let through. Only for local experiments.
    pub fn disabled() -> Self {
        Self(None)
    }

    pub fn is_disabled(&self) -> bool {
        self.0.is_none()
    }

    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.any(|key| key.secret.as_slice().ct_eq(presented).into())
    }

    /// Whether the key a session was opened with (by its fingerprint) is
    /// still configured.
    pub fn still_has(&self, fingerprint: &[u8]) -> bool {
        self.any(|key| key.fingerprint.as_slice().ct_eq(fingerprint).into())
    }

    /// Compares with every key, so timing does not reveal which matched.
    fn any(&self, matches: impl Fn(&Key) -> bool) -> bool {
        match &self.0 {
            None => true,
            Some(keys) => keys.iter().fold(false, |found, key| found | matches(key)),
        }
    }

    fn check_bearer(&self, request: &HttpRequest) -> Result<(), ApiError> {
        if self.is_disabled() {
            return Ok(());
        }
        match bearer(request) {
            Some(presented) if self.accepts(presented.as_bytes()) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The key of `Authorization: Bearer <key>`, if the header has that form.
fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

fn keys_of(request: &HttpRequest) -> Result<web::Data<ApiKeys>, ApiError> {
    request
        .app_data::<web::Data<ApiKeys>>()
        .cloned()
        .ok_or(ApiError::Unauthorized)
}

/// Extracting this from a request authenticates it by bearer key: handlers
/// that take an `Authenticated` argument answer 401 without a valid key.
pub struct Authenticated;

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            keys_of(request)
                .and_then(|keys| keys.check_bearer(request))
                .map(|()| Authenticated),
        )
    }
}

/// A caller allowed to read reports: a bearer key, or else a live dashboard
/// session whose key is still configured. A request with an
/// `Authorization` header is judged by that header alone.
pub struct ReportReader;

impl FromRequest for ReportReader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let keys = keys_of(request);
        let by_header = request.headers().contains_key(AUTHORIZATION);
        let cookie = session::cookie_id(request);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let bearer = keys
            .as_ref()
            .map_err(|_| ApiError::Unauthorized)
            .and_then(|keys| keys.check_bearer(request));
        Box::pin(async move {
            let keys = keys?;
            let (Some(id), false) = (cookie, by_header) else {
                return bearer.map(|()| ReportReader);
            };
            let state = state.ok_or(ApiError::Unauthorized)?;
            match session::find(&state.redis, &id).await? {
                Some(record) if record.key_matches(&keys) => Ok(ReportReader),
                _ => Err(ApiError::Unauthorized),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_key_is_accepted() {
        let keys = ApiKeys::from_list("one, two").expect("keys");
        assert!(keys.accepts(b"one"));
        assert!(keys.accepts(b"two"));
        assert!(!keys.accepts(b"three"));
        assert!(!keys.accepts(b""));
        assert!(!keys.accepts(b"one "));
    }

    #[test]
    fn a_session_stands_only_while_its_key_is_configured() {
        let keys = ApiKeys::from_list("one, two").expect("keys");
        assert!(keys.still_has(&fingerprint(b"two")));
        assert!(!keys.still_has(&fingerprint(b"three")));
        assert!(!keys.still_has(b"two"));
        let rotated = ApiKeys::from_list("two").expect("keys");
        assert!(!rotated.still_has(&fingerprint(b"one")));
    }

    #[test]
    fn an_empty_list_is_no_keys() {
        assert!(ApiKeys::from_list(" , ").is_none());
        assert!(!format!("{:?}", ApiKeys::from_list("secret").expect("key")).contains("secret"));
    }
}
