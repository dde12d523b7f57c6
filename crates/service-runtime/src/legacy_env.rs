//! The old service's `.env` variables **(compat)**: when `DATABASE_URL` or
//! `REDIS_URL` is set nowhere (command line, environment, `.env`), it is
//! built from `DB_HOST`, `DB_PORT`, `DB_DATABASE`, `DB_USERNAME`,
//! `DB_PASSWORD`, or from `REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, so an
//! operator replacing the old service keeps their `.env`. A value of `null`
//! (Laravel's word for none) or an empty one counts as unset; the user,
//! password and database name are percent-encoded.
//!
//! Precedence, highest first: the flag, `DATABASE_URL` in the environment,
//! `DATABASE_URL` in `.env`, the `DB_*` variables (environment over `.env`),
//! the default.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What stays literal in a URL's user, password and path segment (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URLs the old variables make, for each of `DATABASE_URL` and
/// `REDIS_URL` that `lookup` does not already give.
pub fn urls(lookup: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    let value = |name: &str| lookup(name).filter(|value| !value.is_empty() && value != "null");
    let mut urls = Vec::new();
    let database = [
        "DB_HOST",
        "DB_PORT",
        "DB_DATABASE",
        "DB_USERNAME",
        "DB_PASSWORD",
    ];
    if value("DATABASE_URL").is_none() && database.iter().any(|name| value(name).is_some()) {
        let host = value("DB_HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = value("DB_PORT").unwrap_or_else(|| "3306".to_owned());
        let name = value("DB_DATABASE").unwrap_or_else(|| "clicks_service".to_owned());
        let user = value("DB_USERNAME").unwrap_or_else(|| "root".to_owned());
        let password = value("DB_PASSWORD")
            .map(|password| format!(":{}", encode(&password)))
            .unwrap_or_default();
        urls.push((
            "DATABASE_URL",
            format!(
                "mysql://{}{password}@{host}:{port}/{}",
                encode(&user),
                encode(&name)
            ),
        ));
    }
    let redis = ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"];
    if value("REDIS_URL").is_none() && redis.iter().any(|name| value(name).is_some()) {
        let host = value("REDIS_HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = value("REDIS_PORT").unwrap_or_else(|| "6379".to_owned());
        let password = value("REDIS_PASSWORD")
            .map(|password| format!(":{}@", encode(&password)))
            .unwrap_or_default();
        urls.push(("REDIS_URL", format!("redis://{password}{host}:{port}")));
    }
    urls
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn urls_of(pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        urls(|name| map.get(name).cloned())
    }

    #[test]
    fn a_laravel_env_becomes_the_two_urls() {
        assert_eq!(
            urls_of(&[
                ("DB_HOST", "db.internal"),
                ("DB_PORT", "3307"),
                ("DB_DATABASE", "clicks"),
                ("DB_USERNAME", "app"),
                ("DB_PASSWORD", "p@ss:w/rd%"),
                ("REDIS_HOST", "cache"),
                ("REDIS_PORT", "6380"),
                ("REDIS_PASSWORD", "null"),
            ]),
            [
                (
                    "DATABASE_URL",
                    "mysql://app:p%40ss%3Aw%2Frd%25@db.internal:3307/clicks".to_owned()
                ),
                ("REDIS_URL", "redis://cache:6380".to_owned()),
            ]
        );
        assert_eq!(
            urls_of(&[("REDIS_HOST", "cache"), ("REDIS_PASSWORD", "s3cr#t")]),
            [("REDIS_URL", "redis://:s3cr%23t@cache:6379".to_owned())]
        );
        assert_eq!(
            urls_of(&[("DB_DATABASE", "legacy"), ("DB_PASSWORD", "")]),
            [(
                "DATABASE_URL",
                "mysql://root@127.0.0.1:3306/legacy".to_owned()
            )]
        );
    }

    #[test]
    fn the_new_variables_win_and_nothing_is_made_from_nothing() {
        assert!(urls_of(&[]).is_empty());
        assert!(urls_of(&[("REDIS_PASSWORD", "null"), ("DB_PASSWORD", "null")]).is_empty());
        assert!(urls_of(&[("DATABASE_URL", "mysql://x@h/d"), ("DB_HOST", "old")]).is_empty());
        assert_eq!(
            urls_of(&[("REDIS_URL", "redis://new:6379"), ("DB_HOST", "old")]),
            [(
                "DATABASE_URL",
                "mysql://root@old:3306/clicks_service".to_owned()
            )]
        );
    }
}
