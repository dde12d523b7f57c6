//! Senders: which sender signed a webhook, and which sources it may post.
//!
//! The senders come from the keys file ([`crate::access`]) and, for
//! compatibility, from `WEBHOOK_SECRET_KEY`: its keys form the implicit
//! sender [`IMPLICIT`], allowed every source — without a keys file the
//! service behaves exactly as before. A disabled sender is left out: its
//! keys verify nothing.
//!
//! A request that names its sender (`X-Sender: <name>`) is checked against
//! that sender's keys only, so its cost does not grow with the number of
//! senders. One that does not is checked against every key in turn, as a
//! plain key list is — about one HMAC of the body per key until one matches.
//! Each comparison is constant time (`Mac::verify_slice`); which key
//! matched is not secret.

use std::collections::HashMap;
use std::sync::Arc;

use crate::access::{SenderEntry, Sources};
use crate::signature::{SignatureError, SignatureVerifier};
use crate::standard_webhooks::{StandardError, StandardHeaders, StandardVerifier};

/// The name of the sender made of `WEBHOOK_SECRET_KEY`'s keys.
pub const IMPLICIT: &str = "WEBHOOK_SECRET_KEY";

/// The header a request names its sender with.
pub const HEADER_SENDER: &str = "x-sender";

/// One sender whose keys verify requests.
pub struct Sender {
    pub name: String,
    /// Its place in [`Senders`] (for per-sender state such as rate limits).
    pub index: usize,
    sources: Sources,
    /// `(requests per second, burst)`.
    pub rate: Option<(u32, u32)>,
    signature: SignatureVerifier,
    standard: StandardVerifier,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("keys", &self.signature.len())
            .field("rate", &self.rate)
            .finish()
    }
}

impl Sender {
    /// Whether this sender may post clicks of `source` (exact bytes).
    pub fn allows(&self, source: &str) -> bool {
        self.sources.allow(source)
    }
}

/// Why no sender was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("no sender of that name")]
    UnknownSender,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Standard(#[from] StandardError),
}

/// Every enabled sender, and every key with its owner.
pub struct Senders {
    senders: Vec<Arc<Sender>>,
    by_name: HashMap<String, usize>,
    signature: SignatureVerifier,
    standard: StandardVerifier,
    /// The sender of each key of `signature` / `standard`, in order.
    owners: Vec<usize>,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Senders")
            .field("senders", &self.senders.len())
            .field("keys", &self.owners.len())
            .finish()
    }
}

impl Senders {
    /// From the keys file's senders and `WEBHOOK_SECRET_KEY`'s list (if
    /// set); at least one enabled sender is required.
    pub fn new(entries: &[SenderEntry], implicit: Option<&str>) -> Result<Self, String> {
        let mut senders = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut owners = Vec::new();
        let implicit_keys: Vec<&str> = implicit
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut add = |name: &str,
                       sources: Sources,
                       rate: Option<(u32, u32)>,
                       own: &[&str]|
         -> Result<(), String> {
            let list = own.join(",");
            let index = senders.len();
            senders.push(Arc::new(Sender {
                name: name.to_owned(),
                index,
                sources,
                rate,
                signature: SignatureVerifier::from_key_list(&list)
                    .map_err(|error| format!("sender {name}: {error}"))?,
                standard: StandardVerifier::from_key_list(&list)
                    .map_err(|error| format!("sender {name}: {error}"))?,
            }));
            keys.extend(own.iter().map(|key| (*key).to_owned()));
            owners.extend(std::iter::repeat_n(index, own.len()));
            Ok(())
        };
        if !implicit_keys.is_empty() {
            add(IMPLICIT, Sources::any(), None, &implicit_keys)?;
        }
        for entry in entries.iter().filter(|entry| entry.enabled) {
            let own: Vec<&str> = entry.keys.iter().map(String::as_str).collect();
            let rate = entry
                .rate_limit
                .map(|rate| (rate, entry.rate_burst.unwrap_or(rate)));
            add(&entry.name, entry.sources.clone(), rate, &own)?;
        }
        if senders.is_empty() {
            return Err(
                "no sender: set WEBHOOK_SECRET_KEY or add an enabled [[sender]] to CLICKS_KEYS_FILE"
                    .to_owned(),
            );
        }
        let list = keys.join(",");
        Ok(Self {
            by_name: senders
                .iter()
                .map(|sender| (sender.name.clone(), sender.index))
                .collect(),
            senders,
            signature: SignatureVerifier::from_key_list(&list).map_err(|e| e.to_string())?,
            standard: StandardVerifier::from_key_list(&list).map_err(|e| e.to_string())?,
            owners,
        })
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Sender>> {
        self.senders.iter()
    }

    fn named(&self, name: &str) -> Result<&Arc<Sender>, SenderError> {
        self.by_name
            .get(name)
            .map(|index| &self.senders[*index])
            .ok_or(SenderError::UnknownSender)
    }

    /// The sender whose key made `X-Signature` over `body`: among `named`'s
    /// keys when the request names one, else among every key.
    pub fn by_signature(
        &self,
        named: Option<&str>,
        header: Option<&[u8]>,
        body: &[u8],
    ) -> Result<&Arc<Sender>, SenderError> {
        match named {
            Some(name) => {
                let sender = self.named(name)?;
                sender.signature.verify_key(header, body)?;
                Ok(sender)
            }
            None => {
                let key = self.signature.verify_key(header, body)?;
                Ok(&self.senders[self.owners[key]])
            }
        }
    }

    /// The sender whose key made the Standard Webhooks signature, and the
    /// message id.
    pub fn by_standard<'a>(
        &self,
        named: Option<&str>,
        headers: StandardHeaders<'a>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(&'a str, &Arc<Sender>), SenderError> {
        match named {
            Some(name) => {
                let sender = self.named(name)?;
                let id = sender.standard.verify(headers, body, now, tolerance_secs)?;
                Ok((id, sender))
            }
            None => {
                let (id, key) = self
                    .standard
                    .verify_key(headers, body, now, tolerance_secs)?;
                Ok((id, &self.senders[self.owners[key]]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access;
    use crate::signature::sign;

    fn registry(implicit: Option<&str>) -> Senders {
        let file = access::parse(
            r#"
            [[sender]]
            name = "a"
            sources = ["net_a", "net_a_*"]
            keys = ["key-a1", "key-a2"]
            rate_limit = 5

            [[sender]]
            name = "b"
            sources = ["net_b"]
            keys = ["whsec_a2V5LWI="]

            [[sender]]
            name = "off"
            sources = ["*"]
            keys = ["key-off"]
            enabled = false
            "#,
        )
        .expect("file");
        Senders::new(&file.senders, implicit).expect("senders")
    }

    #[test]
    fn a_signature_names_its_sender_named_or_not() {
        let senders = registry(Some("legacy"));
        let body = br#"{"click_id":"x"}"#;
        for (key, expected) in [
            (&b"key-a2"[..], "a"),
            (b"legacy", IMPLICIT),
            (b"whsec_a2V5LWI=", "b"),
        ] {
            let header = sign(key, body);
            let found = senders
                .by_signature(None, Some(header.as_bytes()), body)
                .expect("verifies");
            assert_eq!(found.name, expected);
            let named = senders
                .by_signature(Some(expected), Some(header.as_bytes()), body)
                .expect("verifies when named");
            assert_eq!(named.name, expected);
        }
        // Named, but signed with another sender's key: refused.
        let header = sign(b"key-a1", body);
        assert_eq!(
            senders
                .by_signature(Some("b"), Some(header.as_bytes()), body)
                .err(),
            Some(SenderError::Signature(SignatureError::Mismatch))
        );
        assert_eq!(
            senders
                .by_signature(Some("nobody"), Some(header.as_bytes()), body)
                .err(),
            Some(SenderError::UnknownSender)
        );
        // A disabled sender's key verifies nothing.
        let header = sign(b"key-off", body);
        assert!(
            senders
                .by_signature(None, Some(header.as_bytes()), body)
                .is_err()
        );
        assert!(
            senders
                .by_signature(Some("off"), Some(header.as_bytes()), body)
                .is_err()
        );
    }

    #[test]
    fn sources_and_rates_follow_the_file() {
        let senders = registry(None);
        assert_eq!(
            senders.len(),
            2,
            "no implicit sender, the disabled one left out"
        );
        let a = senders.named("a").expect("a");
        assert!(a.allows("net_a") && a.allows("net_a_eu") && !a.allows("net_b"));
        assert_eq!(a.rate, Some((5, 5)));
        let implicit = registry(Some("k"));
        assert!(
            implicit
                .named(IMPLICIT)
                .expect("implicit")
                .allows("anything at all")
        );
        assert!(Senders::new(&[], None).is_err());
        assert!(Senders::new(&[], Some(" , ")).is_err());
    }

    #[test]
    fn standard_webhooks_name_their_sender_too() {
        let senders = registry(Some("legacy"));
        let body = b"{}";
        let signature = crate::standard_webhooks::sign(b"key-b", "msg_1", 1_000, body);
        let headers = StandardHeaders {
            id: Some("msg_1"),
            timestamp: Some("1000"),
            signature: Some(&signature),
        };
        let (id, sender) = senders
            .by_standard(None, headers, body, 1_000, 300)
            .expect("verifies");
        assert_eq!((id, sender.name.as_str()), ("msg_1", "b"));
        assert!(
            senders
                .by_standard(Some("a"), headers, body, 1_000, 300)
                .is_err()
        );
    }
}
