//! The keys file (`CLICKS_KEYS_FILE`): who may post which clicks, and who
//! may read or export what. One TOML file, read by ingest (the senders) and
//! reporting-api (the reporting keys); each binary checks all of it, so a
//! mistake stops either one.
//!
//! ```toml
//! [[sender]]
//! name = "network-a"                  # letters, digits, . _ - (1–64)
//! sources = ["network_a", "net_a_*"]  # exact names, or a prefix ending in *; "*" is any
//! keys = ["whsec_…", "…"]             # any of them verifies (X-Signature and Standard Webhooks)
//! rate_limit = 200                    # requests/s, optional; rate_burst too
//! enabled = true                      # default true
//!
//! [[reporting_key]]
//! name = "partner-a"
//! sha256 = "<64 hex digits>"          # SHA-256 of the key; or key = "<the key>"
//! scopes = ["reports:read"]           # reports:read, export:read, export:write
//! sources = ["network_a"]             # optional: sees only these sources' rows
//! offers = [12345]                    # optional: … and only these offers'
//! ```
//!
//! Errors name the entry and the field, never a key: a TOML syntax error is
//! reported by line and column only, since the line may hold a secret.

use std::collections::HashSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::standard_webhooks;

/// What a reporting key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `GET /api/reports/*` (and the dashboard).
    ReportsRead,
    /// `GET /api/export/status`.
    ExportRead,
    /// `POST /api/export/forward`.
    ExportWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::ReportsRead, Scope::ExportRead, Scope::ExportWrite];

    pub fn name(self) -> &'static str {
        match self {
            Self::ReportsRead => "reports:read",
            Self::ExportRead => "export:read",
            Self::ExportWrite => "export:write",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.name() == name)
    }
}

/// A `source` a sender may post: exact, a prefix (`net_*`), or any (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePattern {
    Exact(String),
    Prefix(String),
    Any,
}

impl SourcePattern {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a source pattern is empty".to_owned());
        }
        match text.strip_suffix('*') {
            Some("") => Ok(Self::Any),
            Some(prefix) if !prefix.contains('*') => Ok(Self::Prefix(prefix.to_owned())),
            Some(_) => Err(format!("`{text}`: `*` may only end a pattern")),
            None if text.contains('*') => Err(format!("`{text}`: `*` may only end a pattern")),
            None => Ok(Self::Exact(text.to_owned())),
        }
    }

    /// Whether `source` is allowed by this pattern (exact bytes, no folding).
    pub fn matches(&self, source: &str) -> bool {
        match self {
            Self::Exact(name) => name == source,
            Self::Prefix(prefix) => source.starts_with(prefix.as_str()),
            Self::Any => true,
        }
    }
}

/// The sources a sender may post: any of its patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources(pub Vec<SourcePattern>);

impl Sources {
    /// Every source (`"*"`).
    pub fn any() -> Self {
        Self(vec![SourcePattern::Any])
    }

    /// Whether `source` is allowed (exact bytes, no folding).
    pub fn allow(&self, source: &str) -> bool {
        self.0.iter().any(|pattern| pattern.matches(source))
    }
}

/// One sender, checked.
#[derive(Clone)]
pub struct SenderEntry {
    pub name: String,
    pub sources: Sources,
    /// The keys as given (a `whsec_` key is decoded by the verifiers).
    pub keys: Vec<String>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    pub enabled: bool,
}

impl std::fmt::Debug for SenderEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderEntry")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("keys", &self.keys.len())
            .field("rate_limit", &self.rate_limit)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl SenderEntry {
    /// Whether this sender may post clicks of `source`.
    pub fn allows(&self, source: &str) -> bool {
        self.sources.allow(source)
    }
}

/// One reporting key, checked; only its SHA-256 is kept.
#[derive(Debug, Clone)]
pub struct ReportingKeyEntry {
    pub name: String,
    pub sha256: [u8; 32],
    pub scopes: Vec<Scope>,
    /// `Some`: only these sources' rows.
    pub sources: Option<Vec<String>>,
    /// `Some`: only these offers' rows.
    pub offers: Option<Vec<u64>>,
}

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct KeysFile {
    pub senders: Vec<SenderEntry>,
    pub reporting_keys: Vec<ReportingKeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    sender: Vec<RawSender>,
    #[serde(default)]
    reporting_key: Vec<RawReportingKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSender {
    name: String,
    sources: Vec<String>,
    keys: Vec<String>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReportingKey {
    name: String,
    key: Option<String>,
    sha256: Option<String>,
    scopes: Vec<String>,
    sources: Option<Vec<String>>,
    offers: Option<Vec<u64>>,
}

/// The SHA-256 of a key as it is compared: presented keys are hashed once
/// and compared with these digests in constant time.
pub fn key_digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// `text` as a TOML basic string (quotes, backslashes and control
/// characters escaped), for the entries the key commands print.
pub fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\t' => quoted.push_str("\\t"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn check_name(kind: &str, index: usize, name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} {index}: name must be 1–64 letters, digits, `.`, `_` or `-`"
        ))
    }
}

/// Parses and checks the file's text.
pub fn parse(text: &str) -> Result<KeysFile, String> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        // Never the offending line: it may hold a key.
        let place = error
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        format!("not valid TOML{place}: {}", error.message().trim())
    })?;
    let mut file = KeysFile::default();
    let mut names = HashSet::new();
    let mut sender_keys = HashSet::new();
    for (index, sender) in raw.sender.into_iter().enumerate() {
        let index = index + 1;
        check_name("sender", index, &sender.name)?;
        let label = format!("sender {index} ({})", sender.name);
        if !names.insert(sender.name.clone()) {
            return Err(format!("{label}: the name is used twice"));
        }
        if sender.sources.is_empty() {
            return Err(format!(
                "{label}: sources is empty (use \"*\" for any source)"
            ));
        }
        let sources = sender
            .sources
            .iter()
            .map(|pattern| SourcePattern::parse(pattern))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("{label}: sources: {error}"))?;
        if sender.keys.is_empty() || sender.keys.iter().any(String::is_empty) {
            return Err(format!(
                "{label}: keys must list at least one non-empty key"
            ));
        }
        standard_webhooks::StandardVerifier::from_key_list(&sender.keys.join(","))
            .map_err(|error| format!("{label}: keys: {error}"))?;
        if sender
            .keys
            .iter()
            .any(|key| key.contains(',') || key.trim() != key)
        {
            return Err(format!(
                "{label}: keys: a key may not contain a comma or begin or end with a blank"
            ));
        }
        for key in &sender.keys {
            if !sender_keys.insert(key.clone()) {
                return Err(format!(
                    "{label}: keys: a key is listed twice (every key belongs to one sender)"
                ));
            }
        }
        if sender.rate_limit == Some(0) || sender.rate_burst == Some(0) {
            return Err(format!(
                "{label}: rate_limit and rate_burst must be at least 1"
            ));
        }
        if sender.rate_burst.is_some() && sender.rate_limit.is_none() {
            return Err(format!("{label}: rate_burst needs rate_limit"));
        }
        file.senders.push(SenderEntry {
            name: sender.name,
            sources: Sources(sources),
            keys: sender.keys,
            rate_limit: sender.rate_limit,
            rate_burst: sender.rate_burst,
            enabled: sender.enabled,
        });
    }
    let mut names = HashSet::new();
    let mut digests = HashSet::new();
    for (index, entry) in raw.reporting_key.into_iter().enumerate() {
        let index = index + 1;
        check_name("reporting_key", index, &entry.name)?;
        let label = format!("reporting_key {index} ({})", entry.name);
        if !names.insert(entry.name.clone()) {
            return Err(format!("{label}: the name is used twice"));
        }
        let sha256 = match (&entry.key, &entry.sha256) {
            (Some(key), None) if !key.is_empty() => key_digest(key.as_bytes()),
            (None, Some(hex_digits)) => {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(hex_digits.trim(), &mut digest).map_err(|_| {
                    format!("{label}: sha256 must be 64 hex digits (the SHA-256 of the key)")
                })?;
                digest
            }
            _ => return Err(format!("{label}: give exactly one of key and sha256")),
        };
        if !digests.insert(sha256) {
            return Err(format!("{label}: the same key is listed twice"));
        }
        if entry.scopes.is_empty() {
            return Err(format!("{label}: scopes is empty"));
        }
        let mut scopes = entry
            .scopes
            .iter()
            .map(|name| {
                Scope::parse(name).ok_or_else(|| {
                    format!(
                        "{label}: scopes: `{name}` is not one of reports:read, export:read, export:write"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort_unstable();
        scopes.dedup();
        if entry
            .sources
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.iter().any(String::is_empty))
            || entry
                .offers
                .as_ref()
                .is_some_and(|o| o.is_empty() || o.contains(&0))
        {
            return Err(format!(
                "{label}: sources and offers, when given, list at least one non-empty source / offer above 0"
            ));
        }
        let restricted = entry.sources.is_some() || entry.offers.is_some();
        if restricted && scopes.iter().any(|scope| *scope != Scope::ReportsRead) {
            return Err(format!(
                "{label}: a key restricted to sources or offers may only have reports:read (an export covers every source)"
            ));
        }
        file.reporting_keys.push(ReportingKeyEntry {
            name: entry.name,
            sha256,
            scopes,
            sources: entry.sources,
            offers: entry.offers,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[sender]]
        name = "network-a"
        sources = ["network_a", "net_a_*"]
        keys = ["secret-a", "whsec_c2VjcmV0LWEy"]
        rate_limit = 10

        [[sender]]
        name = "network-b"
        sources = ["*"]
        keys = ["secret-b"]
        enabled = false

        [[reporting_key]]
        name = "everything"
        key = "plain-key"
        scopes = ["reports:read", "export:read", "export:write"]

        [[reporting_key]]
        name = "partner-a"
        sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
        scopes = ["reports:read"]
        sources = ["network_a"]
        offers = [7]
    "#;

    #[test]
    fn a_good_file_is_read_whole() {
        let file = parse(GOOD).expect("good file");
        assert_eq!(file.senders.len(), 2);
        let a = &file.senders[0];
        assert!(a.allows("network_a") && a.allows("net_a_eu") && a.allows("net_a_"));
        assert!(!a.allows("network_a ") && !a.allows("Network_a") && !a.allows("network_b"));
        assert!(file.senders[1].allows("anything") && !file.senders[1].enabled);
        assert_eq!(file.reporting_keys[0].sha256, key_digest(b"plain-key"));
        assert_eq!(file.reporting_keys[0].scopes, Scope::ALL);
        assert_eq!(file.reporting_keys[1].offers, Some(vec![7]));
        assert!(!format!("{file:?}").contains("secret-a"));
    }

    #[test]
    fn mistakes_are_named_without_the_keys() {
        for (text, expected) in [
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"top-secret\"\n",
                "line",
            ),
            (
                "[[sender]]\nname = \"a b\"\nsources = [\"x\"]\nkeys = [\"k\"]",
                "sender 1: name",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = []\nkeys = [\"k\"]",
                "sources is empty",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x*y\"]\nkeys = [\"k\"]",
                "may only end",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = []",
                "at least one",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"whsec_!!\"]",
                "not base64",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"k\"]\n[[sender]]\nname = \"b\"\nsources = [\"x\"]\nkeys = [\"k\"]",
                "listed twice",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"k\"]\n[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"j\"]",
                "used twice",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"k\"]\nrate_burst = 3",
                "needs rate_limit",
            ),
            (
                "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"k\"]\ncolour = 1",
                "unknown field",
            ),
            (
                "[[reporting_key]]\nname = \"r\"\nscopes = [\"reports:read\"]",
                "exactly one of key and sha256",
            ),
            (
                "[[reporting_key]]\nname = \"r\"\nsha256 = \"zz\"\nscopes = [\"reports:read\"]",
                "64 hex",
            ),
            (
                "[[reporting_key]]\nname = \"r\"\nkey = \"k\"\nscopes = [\"reports:write\"]",
                "not one of",
            ),
            (
                "[[reporting_key]]\nname = \"r\"\nkey = \"k\"\nscopes = [\"export:write\"]\nsources = [\"a\"]",
                "may only have reports:read",
            ),
            (
                "[[reporting_key]]\nname = \"r\"\nkey = \"k\"\nscopes = [\"reports:read\"]\noffers = []",
                "at least one",
            ),
            ("[[senders]]\nname = \"a\"", "unknown field"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(expected), "{text}\n→ {error}");
            assert!(!error.contains("top-secret"), "{error}");
        }
    }
}
