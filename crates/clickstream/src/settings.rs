//! `REDIS_URL` and its TLS files: which Redis, standalone or cluster.
//!
//! | form | topology |
//! |---|---|
//! | `redis://[user:password@]host:port[/db]` | one node (the default, `redis://127.0.0.1:6379`) |
//! | `rediss://…` | one node over TLS |
//! | `redis+cluster://[user:password@]host:port,host:port,…` | Redis Cluster: a few seed nodes, the rest is discovered |
//! | `rediss+cluster://…` | Redis Cluster over TLS |
//!
//! The user and password of a cluster URL apply to every node. TLS verifies
//! the server against the system's roots, or against `REDIS_TLS_CA_FILE`;
//! `REDIS_TLS_CERT_FILE` and `REDIS_TLS_KEY_FILE` add a client certificate.
//! The URL is a secret: it never prints (`--help`, `Debug`, logs), only
//! [`RedisSettings::redacted`] does, with the password masked.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

/// The settings every binary that talks to Redis shares (flattened into its clap struct).
#[derive(Debug, Clone, clap::Args)]
pub struct RedisSettings {
    /// Redis: `redis://host:port` (one node), `rediss://…` (TLS), or
    /// `redis+cluster://host:port,host:port,…` / `rediss+cluster://…`
    /// (Redis Cluster, a few seed nodes). `user:password@` after the
    /// scheme authenticates (an ACL user, or only a password).
    #[arg(
        long = "redis-url",
        global = true,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        hide_default_value = true,
        value_parser = secret
    )]
    pub url: SecretString,

    /// PEM file of the CA that signed the Redis server's certificate (TLS URLs; default: the system's roots).
    #[arg(long = "redis-tls-ca-file", global = true, env = "REDIS_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// PEM client certificate for Redis servers that require one (with `REDIS_TLS_KEY_FILE`).
    #[arg(
        long = "redis-tls-cert-file",
        global = true,
        env = "REDIS_TLS_CERT_FILE",
        requires = "tls_key_file"
    )]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of `REDIS_TLS_CERT_FILE`.
    #[arg(
        long = "redis-tls-key-file",
        global = true,
        env = "REDIS_TLS_KEY_FILE",
        requires = "tls_cert_file"
    )]
    pub tls_key_file: Option<PathBuf>,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

/// What `REDIS_URL` names, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One node: its URL (`redis://` or `rediss://`).
    Standalone(String),
    /// Seed nodes of a cluster, each as a `redis://` or `rediss://` URL carrying the credentials.
    Cluster(Vec<String>),
}

/// Why `REDIS_URL` cannot be used; the text names the variable, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("REDIS_URL {0}")]
pub struct UrlError(String);

impl RedisSettings {
    /// Settings for `url` with no TLS files (tests, bench, chaos).
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }

    pub fn topology(&self) -> Result<Topology, UrlError> {
        parse_topology(self.url.expose_secret())
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.url.expose_secret().starts_with("rediss")
    }

    /// The URL with its password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        redact(self.url.expose_secret())
    }
}

/// Parses the four URL forms of the module doc.
pub fn parse_topology(url: &str) -> Result<Topology, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        UrlError("is not a URL (expected redis://host:port or redis+cluster://host:port,…)".into())
    })?;
    let (node_scheme, cluster) = match scheme {
        "redis" | "valkey" => ("redis", false),
        "rediss" | "valkeys" => ("rediss", false),
        "redis+cluster" => ("redis", true),
        "rediss+cluster" => ("rediss", true),
        other => {
            return Err(UrlError(format!(
                "has the scheme `{other}`; expected redis, rediss, redis+cluster or rediss+cluster"
            )));
        }
    };
    let (userinfo, hosts_and_path) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let host_end = hosts_and_path
        .find(['/', '?'])
        .unwrap_or(hosts_and_path.len());
    let (hosts, path) = hosts_and_path.split_at(host_end);
    let nodes: Vec<&str> = hosts.split(',').map(str::trim).collect();
    if nodes.iter().any(|node| node.is_empty()) {
        return Err(UrlError(
            "names no host (or an empty one in its list)".into(),
        ));
    }
    if !cluster && nodes.len() > 1 {
        return Err(UrlError(
            "lists several hosts; a cluster URL starts with redis+cluster:// (or rediss+cluster://)"
                .into(),
        ));
    }
    let auth = userinfo.map(|user| format!("{user}@")).unwrap_or_default();
    let urls: Vec<String> = nodes
        .iter()
        .map(|node| format!("{node_scheme}://{auth}{node}{path}"))
        .collect();
    for node in &urls {
        let info = redis::IntoConnectionInfo::into_connection_info(node.as_str())
            .map_err(|error| UrlError(format!("is not usable: {}", redact(&error.to_string()))))?;
        if cluster && info.redis_settings().db() != 0 {
            return Err(UrlError(
                "selects a database; Redis Cluster has only database 0".into(),
            ));
        }
    }
    Ok(if cluster {
        Topology::Cluster(urls)
    } else {
        Topology::Standalone(urls.into_iter().next().unwrap_or_default())
    })
}

/// `scheme://user:***@hosts…`: the password (or lone secret) masked wherever a URL appears in `text`.
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let Some(at) = rest.rfind('@') else {
        return text.to_owned();
    };
    let userinfo = &rest[..at];
    let masked = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{masked}@{}", &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_forms_parse() {
        assert_eq!(
            parse_topology("redis://127.0.0.1:6379"),
            Ok(Topology::Standalone("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            parse_topology("rediss://u:p%40ss@cache:6380/2"),
            Ok(Topology::Standalone(
                "rediss://u:p%40ss@cache:6380/2".into()
            ))
        );
        assert_eq!(
            parse_topology("redis+cluster://a:7000, b:7001,c:7002"),
            Ok(Topology::Cluster(vec![
                "redis://a:7000".into(),
                "redis://b:7001".into(),
                "redis://c:7002".into()
            ]))
        );
        assert_eq!(
            parse_topology("rediss+cluster://app:s3cr@t@a:7000,b:7001"),
            Ok(Topology::Cluster(vec![
                "rediss://app:s3cr@t@a:7000".into(),
                "rediss://app:s3cr@t@b:7001".into()
            ]))
        );
    }

    #[test]
    fn bad_urls_name_the_variable_and_never_the_password() {
        for url in [
            "notaurl",
            "http://x:1",
            "redis+cluster://a:1,,b:2",
            "redis://a:1,b:2",
            "redis+cluster://u:hunter2@a:1/3",
            "redis://u:hunter2@:notaport",
        ] {
            let error = parse_topology(url).expect_err(url).to_string();
            assert!(error.starts_with("REDIS_URL "), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn redaction_masks_the_password() {
        assert_eq!(redact("redis://u:pw@h:1"), "redis://u:***@h:1");
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        let settings = RedisSettings::from_url("redis+cluster://u:pw@a:1,b:2");
        assert_eq!(settings.redacted(), "redis+cluster://u:***@a:1,b:2");
        assert!(!format!("{settings:?}").contains("pw"));
    }
}
