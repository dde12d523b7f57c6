//! The Standard Webhooks signature scheme (<https://www.standardwebhooks.com>),
//! accepted beside `X-Signature` for senders that want replay protection.
//!
//! - `webhook-id`: the message id, unique per message (not per attempt);
//! - `webhook-timestamp`: Unix seconds when it was sent;
//! - `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries
//!   over `{id}.{timestamp}.{body}` (several while a sender rotates keys).
//!
//! A key written `whsec_<base64>` is used base64-decoded, as the scheme
//! specifies, with or without its `=` padding (the reference libraries pad
//! it); a `whsec_` key that is not base64 is refused when the list is read.
//! Any other key is used as its raw bytes, like `X-Signature`.
//! Replays are refused in two ways: a timestamp outside the tolerance in
//! either direction, and an id already seen within it (the caller keeps the
//! ids; see ingest).

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Longest accepted `webhook-id`.
const MAX_ID_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardError {
    #[error("the {0} header is missing or malformed")]
    Malformed(&'static str),
    #[error("the webhook-timestamp is outside the tolerance window")]
    OutsideTolerance,
    #[error("no signature matches")]
    Mismatch,
}

/// `whsec_` keys: the standard alphabet, `=` padding optional.
const WHSEC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A `whsec_` key whose rest does not decode; names its place in the list, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {position} of the list starts with whsec_ but the rest is not base64")]
pub struct NotBase64 {
    /// 1-based, counting non-empty keys.
    pub position: usize,
}

/// The keyed MACs of the configured secrets.
#[derive(Clone)]
pub struct StandardVerifier {
    keyed: Vec<HmacSha256>,
}

impl std::fmt::Debug for StandardVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardVerifier")
            .field("keys", &self.keyed.len())
            .finish()
    }
}

/// The headers of a timestamped request.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl StandardVerifier {
    /// From the same comma-separated list as `WEBHOOK_SECRET_KEY`.
    pub fn from_key_list(list: &str) -> Result<Self, NotBase64> {
        let keyed = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .enumerate()
            .map(|(index, key)| {
                let bytes = match key.strip_prefix("whsec_") {
                    Some(encoded) => WHSEC.decode(encoded).map_err(|_| NotBase64 {
                        position: index + 1,
                    })?,
                    None => key.as_bytes().to_vec(),
                };
                Ok(<HmacSha256 as Mac>::new_from_slice(&bytes).unwrap_or_else(|_| unreachable!()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keyed })
    }

    /// Verifies a timestamped request at `now` (Unix seconds); returns its id.
    pub fn verify<'a>(
        &self,
        headers: StandardHeaders<'a>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<&'a str, StandardError> {
        self.verify_key(headers, body, now, tolerance_secs)
            .map(|(id, _)| id)
    }

    /// Like [`verify`](Self::verify); also returns the position of the key
    /// that matched (0-based, in the order of the list).
    pub fn verify_key<'a>(
        &self,
        headers: StandardHeaders<'a>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(&'a str, usize), StandardError> {
        let id = headers
            .id
            .map(str::trim)
            .filter(|id| {
                !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or(StandardError::Malformed(HEADER_ID))?;
        let timestamp_text = headers
            .timestamp
            .map(str::trim)
            .ok_or(StandardError::Malformed(HEADER_TIMESTAMP))?;
        let timestamp: i64 = timestamp_text
            .parse()
            .map_err(|_| StandardError::Malformed(HEADER_TIMESTAMP))?;
        // Checked: a timestamp near i64::MIN or MAX must not wrap into the window.
        let within = now
            .checked_sub(timestamp)
            .and_then(i64::checked_abs)
            .is_some_and(|age| age <= tolerance_secs);
        if !within {
            return Err(StandardError::OutsideTolerance);
        }
        let signatures = headers
            .signature
            .ok_or(StandardError::Malformed(HEADER_SIGNATURE))?;
        let candidates: Vec<Vec<u8>> = signatures
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .collect();
        if candidates.is_empty() {
            return Err(StandardError::Malformed(HEADER_SIGNATURE));
        }
        let matched = self.keyed.iter().position(|mac| {
            let mut mac = mac.clone();
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp_text.as_bytes());
            mac.update(b".");
            mac.update(body);
            // Constant time per candidate.
            candidates
                .iter()
                .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
        });
        matched
            .map(|position| (id, position))
            .ok_or(StandardError::Mismatch)
    }
}

/// The `webhook-signature` value a sender computes (`v1,<base64>`).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> StandardHeaders<'a> {
        StandardHeaders {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn a_signed_timestamped_request_verifies() {
        let verifier = StandardVerifier::from_key_list("old-key,new-key").expect("keys");
        let signature = sign(b"new-key", "msg_1", 1_000, b"{}");
        let ts = "1000";
        assert_eq!(
            verifier.verify(headers("msg_1", ts, &signature), b"{}", 1_010, 300),
            Ok("msg_1")
        );
        // Rotation: several signatures, one good.
        let both = format!("v1,AAAA {signature}");
        assert_eq!(
            verifier.verify(headers("msg_1", ts, &both), b"{}", 1_000, 300),
            Ok("msg_1")
        );
    }

    #[test]
    fn whsec_keys_are_base64_decoded() {
        let raw = b"0123456789abcdef";
        let verifier = StandardVerifier::from_key_list(&format!("whsec_{}", STANDARD.encode(raw)))
            .expect("key");
        let signature = sign(raw, "m", 5, b"x");
        assert!(
            verifier
                .verify(headers("m", "5", &signature), b"x", 5, 300)
                .is_ok()
        );
    }

    #[test]
    fn stale_future_tampered_and_malformed_requests_are_refused() {
        let verifier = StandardVerifier::from_key_list("k").expect("key");
        let signature = sign(b"k", "m", 1_000, b"body");
        assert_eq!(
            verifier.verify(headers("m", "1000", &signature), b"body", 1_301, 300),
            Err(StandardError::OutsideTolerance),
            "stale"
        );
        assert_eq!(
            verifier.verify(headers("m", "1000", &signature), b"body", 699, 300),
            Err(StandardError::OutsideTolerance),
            "from the future"
        );
        assert_eq!(
            verifier.verify(headers("m", "1000", &signature), b"bodY", 1_000, 300),
            Err(StandardError::Mismatch)
        );
        assert_eq!(
            verifier.verify(headers("other", "1000", &signature), b"body", 1_000, 300),
            Err(StandardError::Mismatch),
            "the id is signed"
        );
        assert!(matches!(
            verifier.verify(headers("m", "soon", &signature), b"body", 1_000, 300),
            Err(StandardError::Malformed(HEADER_TIMESTAMP))
        ));
        assert!(matches!(
            verifier.verify(headers("m", "1000", "v2,abc"), b"body", 1_000, 300),
            Err(StandardError::Malformed(HEADER_SIGNATURE))
        ));
        assert!(matches!(
            verifier.verify(headers("", "1000", &signature), b"body", 1_000, 300),
            Err(StandardError::Malformed(HEADER_ID))
        ));
    }

    #[test]
    fn whsec_keys_may_omit_their_padding_and_must_be_base64() {
        // 16 bytes: 24 base64 characters, the last two `=`.
        let raw = b"0123456789abcdef";
        let padded = STANDARD.encode(raw);
        assert!(padded.ends_with("=="));
        let unpadded = padded.trim_end_matches('=');
        let signature = sign(raw, "m", 5, b"x");
        for key in [padded.as_str(), unpadded] {
            let verifier = StandardVerifier::from_key_list(&format!("whsec_{key}")).expect("key");
            assert!(
                verifier
                    .verify(headers("m", "5", &signature), b"x", 5, 300)
                    .is_ok(),
                "{key}"
            );
        }
        let error =
            StandardVerifier::from_key_list("plain, whsec_not*base64!").expect_err("not base64");
        assert_eq!(error, NotBase64 { position: 2 });
        assert!(
            !error.to_string().contains("not*base64"),
            "the key is never printed"
        );
    }

    #[test]
    fn extreme_timestamps_are_outside_the_window_not_wrapped_into_it() {
        let verifier = StandardVerifier::from_key_list("k").expect("key");
        let now = 1_750_000_000;
        for timestamp in [
            i64::MIN,
            i64::MIN + 1,
            now - (1 << 62),
            now + (1 << 62),
            i64::MAX,
        ] {
            let signature = sign(b"k", "m", timestamp, b"b");
            let text = timestamp.to_string();
            assert_eq!(
                verifier.verify(headers("m", &text, &signature), b"b", now, 300),
                Err(StandardError::OutsideTolerance),
                "{timestamp}"
            );
            // And at the other end of the clock.
            assert_eq!(
                verifier.verify(headers("m", &text, &signature), b"b", i64::MAX, 300),
                if timestamp == i64::MAX {
                    Ok("m")
                } else {
                    Err(StandardError::OutsideTolerance)
                },
                "{timestamp} at i64::MAX"
            );
        }
    }

    #[test]
    fn empty_and_truncated_signatures_are_refused() {
        let verifier = StandardVerifier::from_key_list("k").expect("key");
        let signature = sign(b"k", "m", 1_000, b"body");
        let encoded = signature.strip_prefix("v1,").expect("v1");
        let bytes = STANDARD.decode(encoded).expect("base64");
        let truncated = format!("v1,{}", STANDARD.encode(&bytes[..16]));
        let one_short = format!("v1,{}", STANDARD.encode(&bytes[..31]));
        for bad in ["v1,", "v1, ", truncated.as_str(), one_short.as_str()] {
            assert!(
                verifier
                    .verify(headers("m", "1000", bad), b"body", 1_000, 300)
                    .is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            verifier.verify(headers("m", "1000", &signature), b"body", 1_000, 300),
            Ok("m")
        );
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(id in ".{0,40}", ts in ".{0,20}", sig in ".{0,120}") {
            let verifier = StandardVerifier::from_key_list("k").expect("key");
            let _ = verifier.verify(headers(&id, &ts, &sig), b"b", 0, 300);
        }
    }
}
