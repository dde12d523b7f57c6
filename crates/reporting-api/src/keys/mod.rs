//! The reporting keys in force: the `[[reporting_key]]` entries of the keys
//! file (`CLICKS_KEYS_FILE`, each with its scopes and, optionally, the
//! sources and offers it may see) plus every key of `REPORTING_API_KEYS`
//! (unrestricted, every scope, named `REPORTING_API_KEYS[1]`, `[2]`, …).
//!
//! Only SHA-256 digests are kept: a presented key is hashed once and
//! compared with every digest in constant time, so a file entry given as
//! `sha256` and a plain key are checked the same way, and the file need not
//! hold usable tokens.
//!
//! With a file, the registry follows it while the API runs (`Watched`): a
//! new version comes into force within `CLICKS_KEYS_FILE_CHECK_SECS` (2) or on `SIGHUP`, a
//! broken one is logged and the last good one stays; requests in flight
//! keep the registry they started with.

pub mod cli;

use std::path::PathBuf;
use std::sync::Arc;

use domain::access::{KeysFile, Scope, key_digest};
use secrecy::ExposeSecret;
use service_runtime::watched::{Source, Watched};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::Settings;

/// The variable (and flag) of the keys file.
pub const KEYS_FILE_VARIABLE: &str = "CLICKS_KEYS_FILE";

/// The rows a restricted key may see: only these sources and/or offers.
/// Lists are sorted and without duplicates, so equal restrictions compare
/// (and cache) equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub sources: Option<Vec<String>>,
    pub offers: Option<Vec<u64>>,
}

impl Restriction {
    /// `None` when neither list is given: the key sees every row.
    pub fn new(sources: Option<Vec<String>>, offers: Option<Vec<u64>>) -> Option<Self> {
        fn normalised<T: Ord>(list: Option<Vec<T>>) -> Option<Vec<T>> {
            list.map(|mut items| {
                items.sort_unstable();
                items.dedup();
                items
            })
        }
        (sources.is_some() || offers.is_some()).then(|| Self {
            sources: normalised(sources),
            offers: normalised(offers),
        })
    }
}

/// One key in force: its name (what logs show), the SHA-256 of the key,
/// what it may do and which rows it sees.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
    pub restriction: Option<Restriction>,
}

impl Key {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The caller of an API started with `--insecure-no-auth`.
    fn anyone() -> Self {
        Self {
            name: "insecure-no-auth".to_owned(),
            digest: [0; 32],
            scopes: Scope::ALL.to_vec(),
            restriction: None,
        }
    }
}

/// The keys in force; `None` when started with `--insecure-no-auth`.
pub struct ApiKeys(Option<Vec<Key>>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(keys) => write!(f, "ApiKeys({} keys)", keys.len()),
            None => f.write_str("ApiKeys(disabled)"),
        }
    }
}

impl ApiKeys {
    /// The keys of `REPORTING_API_KEYS` (comma-separated; blanks around
    /// keys are ignored); `None` when it lists none.
    pub fn from_list(list: &str) -> Option<Self> {
        let keys = list_keys(list);
        (!keys.is_empty()).then_some(Self(Some(keys)))
    }

    /// The file's reporting keys, then the list's. A list key that is also
    /// in the file is left out: the file's entry (its scopes, its
    /// restriction) applies.
    pub fn from_file(file: &KeysFile, list: Option<&str>) -> Self {
        let mut keys: Vec<Key> = file
            .reporting_keys
            .iter()
            .map(|entry| Key {
                name: entry.name.clone(),
                digest: entry.sha256,
                scopes: entry.scopes.clone(),
                restriction: Restriction::new(entry.sources.clone(), entry.offers.clone()),
            })
            .collect();
        for key in list_keys(list.unwrap_or_default()) {
            match keys.iter().find(|known| known.digest == key.digest) {
                Some(known) => tracing::warn!(
                    key = key.name,
                    entry = known.name,
                    "a key of REPORTING_API_KEYS is also a reporting_key of {KEYS_FILE_VARIABLE}; the file's entry applies"
                ),
                None => keys.push(key),
            }
        }
        Self(Some(keys))
    }

    /// Every request is let through. Only for local experiments.
    pub fn disabled() -> Self {
        Self(None)
    }

    pub fn is_disabled(&self) -> bool {
        self.0.is_none()
    }

    /// How many keys are in force (0 when disabled).
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key `presented` (as sent by a caller), if it is in force.
    pub fn find(&self, presented: &[u8]) -> Option<Key> {
        if presented.is_empty() && !self.is_disabled() {
            return None;
        }
        self.by_digest(&key_digest(presented))
    }

    /// The key whose SHA-256 is `digest` (what a dashboard session keeps),
    /// if it is in force. Every key is compared, in constant time, so the
    /// timing tells nothing of which matched or how far.
    pub fn by_digest(&self, digest: &[u8; 32]) -> Option<Key> {
        let Some(keys) = &self.0 else {
            return Some(Key::anyone());
        };
        const NONE: u64 = u64::MAX;
        let mut found = NONE;
        for (index, key) in keys.iter().enumerate() {
            let first_match = key.digest.as_slice().ct_eq(digest.as_slice()) & found.ct_eq(&NONE);
            found.conditional_assign(&(index as u64), first_match);
        }
        usize::try_from(found)
            .ok()
            .and_then(|index| keys.get(index))
            .cloned()
    }
}

fn list_keys(list: &str) -> Vec<Key> {
    list.split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .enumerate()
        .map(|(index, key)| Key {
            name: format!("REPORTING_API_KEYS[{}]", index + 1),
            digest: key_digest(key.as_bytes()),
            scopes: Scope::ALL.to_vec(),
            restriction: None,
        })
        .collect()
}

/// Where the keys in force come from: fixed at start (`REPORTING_API_KEYS`
/// alone, or `--insecure-no-auth`), or followed in the keys file.
pub type KeySource = Source<ApiKeys>;

/// The keys from the settings, or why the API must not start (one line
/// naming the variable, never a key).
pub fn load(settings: &Settings) -> Result<KeySource, String> {
    let list = settings
        .reporting_api_keys
        .as_ref()
        .map(|keys| keys.expose_secret().to_owned());
    if let Some(path) = &settings.clicks_keys_file {
        return follow_file(path.clone(), list);
    }
    match list.as_deref().and_then(ApiKeys::from_list) {
        Some(keys) => Ok(Source::Fixed(Arc::new(keys))),
        None if settings.insecure_no_auth => Ok(Source::Fixed(Arc::new(ApiKeys::disabled()))),
        None => Err(format!(
            "REPORTING_API_KEYS or {KEYS_FILE_VARIABLE} is required (or start with --insecure-no-auth)"
        )),
    }
}

fn follow_file(path: PathBuf, list: Option<String>) -> Result<KeySource, String> {
    let shown = path.display().to_string();
    let watched = Watched::load(
        path,
        KEYS_FILE_VARIABLE,
        Arc::new(move |text: &str| {
            let file = domain::access::parse(text)?;
            let keys = ApiKeys::from_file(&file, list.as_deref());
            if keys.is_empty() {
                tracing::warn!("no reporting key is in force: every request is refused");
            }
            Ok(keys)
        }),
    )?;
    if watched.current().is_empty() {
        return Err(format!(
            "{KEYS_FILE_VARIABLE}={shown}: lists no reporting_key and REPORTING_API_KEYS is unset: no key could call the API"
        ));
    }
    Ok(Source::Followed(Arc::new(watched)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[reporting_key]]
        name = "partner-a"
        key = "partner-key"
        scopes = ["reports:read"]
        sources = ["net_b", "net_a", "net_a"]

        [[reporting_key]]
        name = "exporter"
        sha256 = "c3b2a6b9f5d1bbc3f0a6c3c3a0d4ea3b8e3d4c0c6f2f3b1e0a7d6c5b4a392817"
        scopes = ["export:read", "export:write"]
    "#;

    #[test]
    fn any_listed_key_is_found_with_every_scope() {
        let keys = ApiKeys::from_list("one, two").expect("keys");
        let two = keys.find(b"two").expect("two");
        assert_eq!(two.name, "REPORTING_API_KEYS[2]");
        assert!(Scope::ALL.iter().all(|scope| two.allows(*scope)));
        assert!(two.restriction.is_none());
        assert_eq!(
            keys.find(b"one").expect("one").name,
            "REPORTING_API_KEYS[1]"
        );
        for wrong in [&b"three"[..], b"", b"one "] {
            assert!(keys.find(wrong).is_none(), "{wrong:?}");
        }
        assert!(ApiKeys::from_list(" , ").is_none());
        assert!(!format!("{keys:?}").contains("one"));
    }

    #[test]
    fn file_keys_carry_their_scopes_and_restriction() {
        let file = domain::access::parse(FILE).expect("file");
        let keys = ApiKeys::from_file(&file, Some("legacy, partner-key"));
        assert_eq!(keys.len(), 3, "the duplicate list key is left out");
        let partner = keys.find(b"partner-key").expect("partner");
        assert_eq!(partner.name, "partner-a");
        assert!(partner.allows(Scope::ReportsRead) && !partner.allows(Scope::ExportWrite));
        assert_eq!(
            partner.restriction,
            Some(Restriction {
                sources: Some(vec!["net_a".into(), "net_b".into()]),
                offers: None
            })
        );
        let digest: [u8; 32] =
            hex::decode("c3b2a6b9f5d1bbc3f0a6c3c3a0d4ea3b8e3d4c0c6f2f3b1e0a7d6c5b4a392817")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        assert_eq!(keys.by_digest(&digest).expect("by digest").name, "exporter");
        assert_eq!(
            keys.find(b"legacy").expect("legacy").name,
            "REPORTING_API_KEYS[1]"
        );
        assert!(keys.find(b"other").is_none());
    }

    #[test]
    fn a_disabled_registry_lets_anyone_do_anything() {
        let keys = ApiKeys::disabled();
        let anyone = keys.find(b"").expect("anyone");
        assert!(Scope::ALL.iter().all(|scope| anyone.allows(*scope)));
        assert!(anyone.restriction.is_none());
    }
}
