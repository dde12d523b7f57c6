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
//!
//! The checked entries are here; reading and checking the text is in `read`.

use sha2::{Digest, Sha256};

mod read;

pub use read::parse;

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
