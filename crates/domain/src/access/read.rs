//! Reading the keys file: its TOML shape, and the checks every sender and
//! reporting key must pass before it becomes an entry.

use std::collections::HashSet;

use serde::Deserialize;

use super::{KeysFile, ReportingKeyEntry, Scope, SenderEntry, SourcePattern, Sources, key_digest};
use crate::standard_webhooks;

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
