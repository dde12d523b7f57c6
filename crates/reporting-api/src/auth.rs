//! Bearer-key authentication of `/api/reports/*` and `/api/export/*`.
//!
//! Keys come from `REPORTING_API_KEYS` (comma-separated). Each request's key
//! is compared with every configured key in constant time.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The accepted keys; `None` when started with `--insecure-no-auth`.
#[derive(Clone)]
pub struct ApiKeys(Option<Vec<Vec<u8>>>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(keys) => write!(f, "ApiKeys({} keys)", keys.len()),
            None => f.write_str("ApiKeys(disabled)"),
        }
    }
}

impl ApiKeys {
    /// Parses the comma-separated list; blanks around keys are ignored.
    pub fn from_list(list: &str) -> Option<Self> {
        let keys: Vec<Vec<u8>> = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(|key| key.as_bytes().to_vec())
            .collect();
        (!keys.is_empty()).then_some(Self(Some(keys)))
    }

    /// Every request is let through. Only for local experiments.
    pub fn disabled() -> Self {
        Self(None)
    }

    pub fn accepts(&self, presented: &[u8]) -> bool {
        match &self.0 {
            None => true,
            // Compare with every key so timing does not reveal which matched.
            Some(keys) => keys.iter().fold(false, |found, key| {
                found | bool::from(key.as_slice().ct_eq(presented))
            }),
        }
    }

    fn check(&self, request: &HttpRequest) -> Result<(), ApiError> {
        if self.0.is_none() {
            return Ok(());
        }
        let presented = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, key) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .ok_or(ApiError::Unauthorized)?;
        if self.accepts(presented.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// Extracting this from a request authenticates it: handlers that take an
/// `Authenticated` argument answer 401 without a valid key.
pub struct Authenticated;

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match request.app_data::<web::Data<ApiKeys>>() {
            Some(keys) => keys.check(request).map(|()| Authenticated),
            None => Err(ApiError::Unauthorized),
        };
        ready(result)
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
    fn an_empty_list_is_no_keys() {
        assert!(ApiKeys::from_list(" , ").is_none());
        assert!(!format!("{:?}", ApiKeys::from_list("secret").expect("key")).contains("secret"));
    }
}
