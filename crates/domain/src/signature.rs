//! The `X-Signature` scheme of the webhooks (contract: Webhooks).
//!
//! `X-Signature: sha256=<hex>` where `<hex>` is HMAC-SHA256 of the raw request
//! body, keyed by one of the configured secrets. Several secrets may be active
//! at once so that senders can rotate keys without downtime.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The scheme prefix of the header value.
pub const SIGNATURE_PREFIX: &str = "sha256=";
/// Length of a SHA-256 MAC in hex digits.
const HEX_LEN: usize = 64;

/// Checks webhook signatures against any of several keys.
///
/// Holds the keyed MAC states, never the keys themselves in printable form.
#[derive(Clone)]
pub struct SignatureVerifier {
    keyed: Vec<HmacSha256>,
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureVerifier")
            .field("keys", &self.keyed.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature")]
    Missing,
    #[error("the signature is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match any key")]
    Mismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at least one non-empty secret key is required")]
pub struct NoKeys;

impl SignatureVerifier {
    /// Builds a verifier from raw keys; empty keys are refused.
    pub fn new<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Result<Self, NoKeys> {
        let keyed: Vec<HmacSha256> = keys
            .into_iter()
            .filter(|key| !key.as_ref().is_empty())
            .map(|key| keyed_mac(key.as_ref()))
            .collect();
        if keyed.is_empty() {
            return Err(NoKeys);
        }
        Ok(Self { keyed })
    }

    /// Parses the comma-separated key list of `WEBHOOK_SECRET_KEY`; blanks
    /// around each key are ignored.
    pub fn from_key_list(list: &str) -> Result<Self, NoKeys> {
        Self::new(list.split(',').map(str::trim))
    }

    /// Verifies an `X-Signature` header value against the raw body.
    ///
    /// Every comparison is constant time (`Mac::verify_slice`).
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        self.verify_key(header, body).map(|_| ())
    }

    /// Like [`verify`](Self::verify); returns the position of the key that
    /// matched (0-based, in the order given).
    pub fn verify_key(&self, header: Option<&[u8]>, body: &[u8]) -> Result<usize, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let expected = decode_header(header)?;
        self.keyed
            .iter()
            .position(|mac| {
                mac.clone()
                    .chain_update(body)
                    .verify_slice(&expected)
                    .is_ok()
            })
            .ok_or(SignatureError::Mismatch)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keyed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
    }
}

fn keyed_mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn decode_header(header: &[u8]) -> Result<[u8; 32], SignatureError> {
    let hex_digits = header
        .trim_ascii()
        .strip_prefix(SIGNATURE_PREFIX.as_bytes())
        .ok_or(SignatureError::Malformed)?;
    if hex_digits.len() != HEX_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut mac = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut mac).map_err(|_| SignatureError::Malformed)?;
    Ok(mac)
}

/// The `X-Signature` value for `body` under `key`, as senders compute it.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let tag = keyed_mac(key).chain_update(body).finalize().into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_a_signature_made_with_the_key() {
        let verifier = SignatureVerifier::from_key_list("secret").expect("key");
        let header = sign(b"secret", b"{}");
        assert_eq!(verifier.verify(Some(header.as_bytes()), b"{}"), Ok(()));
    }

    #[test]
    fn hex_is_case_insensitive() {
        let verifier = SignatureVerifier::from_key_list("secret").expect("key");
        let header = sign(b"secret", b"body");
        let upper = format!("sha256={}", header["sha256=".len()..].to_uppercase());
        assert_eq!(verifier.verify(Some(upper.as_bytes()), b"body"), Ok(()));
    }

    #[test]
    fn any_key_of_a_rotation_list_is_accepted() {
        let verifier = SignatureVerifier::from_key_list("old, new").expect("keys");
        for key in ["old", "new"] {
            let header = sign(key.as_bytes(), b"body");
            assert_eq!(verifier.verify(Some(header.as_bytes()), b"body"), Ok(()));
        }
        let other = sign(b"retired", b"body");
        assert_eq!(
            verifier.verify(Some(other.as_bytes()), b"body"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let verifier = SignatureVerifier::from_key_list("secret").expect("key");
        assert_eq!(verifier.verify(None, b"x"), Err(SignatureError::Missing));
        let good = sign(b"secret", b"x");
        let cases = [
            "".to_owned(),
            "sha256=".to_owned(),
            good["sha256=".len()..].to_owned(),
            good.replace("sha256=", "sha1="),
            format!("{}0", good),
            good[..good.len() - 1].to_owned(),
            format!("{}zz", &good[..good.len() - 2]),
        ];
        for header in cases {
            assert_eq!(
                verifier.verify(Some(header.as_bytes()), b"x"),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn empty_key_lists_are_refused() {
        assert_eq!(SignatureVerifier::from_key_list("").err(), Some(NoKeys));
        assert_eq!(SignatureVerifier::from_key_list(" , ,").err(), Some(NoKeys));
    }

    #[test]
    fn debug_output_never_shows_keys() {
        let verifier = SignatureVerifier::from_key_list("very-secret").expect("key");
        assert!(!format!("{verifier:?}").contains("very-secret"));
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_tampered_ones_do_not(
            key in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<proptest::sample::Index>(),
        ) {
            let verifier = SignatureVerifier::new([&key]).expect("key");
            let header = sign(&key, &body);
            prop_assert_eq!(verifier.verify(Some(header.as_bytes()), &body), Ok(()));
            let mut tampered = body.clone();
            if tampered.is_empty() {
                tampered.push(0);
            } else {
                let i = flip.index(tampered.len());
                tampered[i] ^= 0x01;
            }
            prop_assert_eq!(
                verifier.verify(Some(header.as_bytes()), &tampered),
                Err(SignatureError::Mismatch)
            );
        }

        #[test]
        fn arbitrary_headers_never_panic(header in proptest::collection::vec(any::<u8>(), 0..100)) {
            let verifier = SignatureVerifier::from_key_list("k").expect("key");
            prop_assert!(verifier.verify(Some(&header), b"body").is_err());
        }
    }
}
