//! Settings of `reporting-api`: every one a flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use service_runtime::SecretValue;

use crate::export::ExportArgs;
use crate::keys::KeySource;
use crate::keys::cli::KeysArgs;

/// Reports and the Finance export of the clicks service.
#[derive(Debug, Clone, Parser)]
#[command(name = "reporting-api", version, about, args_override_self = true)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// MySQL/MariaDB holding clicks and aggregates.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "mysql://root@127.0.0.1:3306/clicks_service",
        hide_env_values = true,
        value_parser = service_runtime::SecretValue::new("DATABASE_URL", storage::DatabaseUrl::parse)
    )]
    pub database_url: storage::DatabaseUrl,

    /// Replica for report reads (default: DATABASE_URL).
    #[arg(long, global = true, env = "DATABASE_READ_URL", hide_env_values = true, value_parser = SecretValue::new("DATABASE_READ_URL", storage::DatabaseUrl::parse))]
    pub database_read_url: Option<storage::DatabaseUrl>,

    /// Redis (the report cache).
    #[command(flatten)]
    pub redis: clickstream::RedisSettings,

    /// Listen address.
    #[arg(
        long,
        global = true,
        env = "REPORTING_BIND",
        default_value = "0.0.0.0:8081"
    )]
    pub reporting_bind: SocketAddr,

    /// Comma-separated bearer keys for /api/reports/* and /api/export/*,
    /// each with every scope and no restriction.
    #[arg(
        long,
        global = true,
        env = "REPORTING_API_KEYS",
        hide_env_values = true,
        value_parser = SecretValue::new("REPORTING_API_KEYS", secret)
    )]
    pub reporting_api_keys: Option<SecretString>,

    /// The keys file: its [[reporting_key]] entries (scopes, sources,
    /// offers) are in force besides REPORTING_API_KEYS, and follow the
    /// file's changes without a restart.
    #[arg(long, global = true, env = "CLICKS_KEYS_FILE")]
    pub clicks_keys_file: Option<PathBuf>,

    /// Seconds between checks of CLICKS_KEYS_FILE for a new version (SIGHUP checks at once).
    #[arg(long, global = true, env = "CLICKS_KEYS_FILE_CHECK_SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub clicks_keys_file_check_secs: u64,

    /// Serve without authentication (refused otherwise when neither REPORTING_API_KEYS nor CLICKS_KEYS_FILE is set).
    #[arg(long, global = true)]
    pub insecure_no_auth: bool,

    /// Minutes a reports dashboard session lasts after its login.
    #[arg(long, global = true, env = "DASHBOARD_SESSION_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub dashboard_session_minutes: u32,

    /// Days of raw clicks to keep (`reporting-api retention` deletes older
    /// dates once exported; aggregates are kept). Unset: keep everything.
    #[arg(long, global = true, env = "CLICKS_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_600))]
    pub clicks_retention_days: Option<u32>,

    /// MySQL connections of this process.
    #[arg(long, global = true, env = "REPORTING_DB_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub db_connections: u32,

    #[command(flatten)]
    pub finance: FinanceSettings,

    #[command(flatten)]
    pub reports: ReportSettings,
}

/// How to reach Finance.
#[derive(Debug, Clone, clap::Args)]
pub struct FinanceSettings {
    /// Finance base URL (`http://` or `https://`; may carry credentials, so
    /// its value is never printed).
    #[arg(
        long,
        global = true,
        env = "FINANCE_SERVICE_URL",
        hide_env_values = true,
        default_value = "http://finance-service:8080",
        value_parser = SecretValue::new("FINANCE_SERVICE_URL", FinanceUrl::parse)
    )]
    pub finance_service_url: FinanceUrl,

    /// Seconds per Finance request.
    #[arg(long, global = true, env = "FINANCE_SERVICE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub finance_service_timeout: u64,

    /// Clicks per request to Finance.
    #[arg(long, global = true, env = "FINANCE_EXPORT_CHUNK_SIZE", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub finance_export_chunk_size: u32,

    /// Retries of one chunk (connection errors, timeouts, 429, 5xx) before the export fails.
    #[arg(long, global = true, env = "FINANCE_MAX_RETRIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub finance_max_retries: u32,

    /// First retry delay in milliseconds; it doubles on each retry (with jitter), up to 30 s.
    #[arg(long, global = true, env = "FINANCE_RETRY_BASE_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub finance_retry_base_ms: u64,

    /// Bearer token sent to Finance (`Authorization: Bearer …`).
    #[arg(
        long,
        global = true,
        env = "FINANCE_SERVICE_TOKEN",
        hide_env_values = true,
        value_parser = SecretValue::new("FINANCE_SERVICE_TOKEN", secret)
    )]
    pub finance_service_token: Option<SecretString>,

    /// Key of the `X-Signature: sha256=<hex>` HMAC of each body sent to Finance.
    #[arg(
        long,
        global = true,
        env = "FINANCE_SIGNING_SECRET",
        hide_env_values = true,
        value_parser = SecretValue::new("FINANCE_SIGNING_SECRET", secret)
    )]
    pub finance_signing_secret: Option<SecretString>,
}

fn secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

/// Finance's base URL, checked at start: an `http` or `https` URL with a
/// host. It may carry a user and password, so it prints as its scheme and
/// host only.
#[derive(Clone)]
pub struct FinanceUrl(SecretString);

impl FinanceUrl {
    fn parse(text: &str) -> Result<Self, String> {
        let url =
            reqwest::Url::parse(text.trim()).map_err(|error| format!("is not a URL ({error})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "must be an http:// or https:// URL, not {}://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("has no host".to_owned());
        }
        Ok(Self(SecretString::from(
            text.trim().trim_end_matches('/').to_owned(),
        )))
    }

    /// The base the API paths are appended to, without a trailing `/`.
    pub fn base(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for FinanceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match reqwest::Url::parse(self.base()) {
            Ok(url) => write!(
                f,
                "FinanceUrl({}://{})",
                url.scheme(),
                url.host_str().unwrap_or_default()
            ),
            Err(_) => f.write_str("FinanceUrl(…)"),
        }
    }
}

/// Limits of the reports.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportSettings {
    /// Longest date range of one report, in days.
    #[arg(long, global = true, env = "REPORT_MAX_RANGE_DAYS", default_value_t = 366, value_parser = clap::value_parser!(u32).range(1..=36_600))]
    pub report_max_range_days: u32,

    /// Seconds a cached report answer is kept in Redis (0: no cache). An
    /// answer is served only while no click of the dates it covers has been
    /// committed since, whatever this says.
    #[arg(long, global = true, env = "REPORT_CACHE_TTL_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub report_cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Export clicks to Finance (for cron); exit status 0 only when everything was delivered.
    Export(ExportArgs),
    /// Delete the raw clicks of dates older than CLICKS_RETENTION_DAYS once exported (for cron).
    Retention(crate::retention::RetentionArgs),
    /// Reporting keys: `keys new` makes one (needs no database).
    Keys(KeysArgs),
}

impl Settings {
    pub fn read_url(&self) -> &storage::DatabaseUrl {
        self.database_read_url
            .as_ref()
            .unwrap_or(&self.database_url)
    }

    /// The reporting keys (the keys file read now), or why the API must
    /// not start: one line naming the variable, never a key.
    pub fn api_keys(&self) -> Result<KeySource, String> {
        crate::keys::load(self)
    }
}

#[cfg(test)]
mod finance_url_tests {
    use super::*;

    #[test]
    fn settings_never_print_their_secrets() {
        let settings = Settings::try_parse_from([
            "reporting-api",
            "--reporting-api-keys=key-hunter1",
            "--database-url=mysql://app:hunter2@db/clicks",
            "--finance-service-token=token-hunter3",
            "--finance-signing-secret=signing-hunter4",
            "--finance-service-url=https://app:hunter5@finance.example",
        ])
        .expect("settings");
        let printed = format!("{settings:?}");
        for secret in ["hunter1", "hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(settings.api_keys().is_ok());
    }

    #[test]
    fn only_http_urls_with_a_host_are_accepted_and_credentials_never_print() {
        let url = FinanceUrl::parse("https://app:hunter2@finance.example/base/").expect("valid");
        assert_eq!(url.base(), "https://app:hunter2@finance.example/base");
        let shown = format!("{url:?}");
        assert_eq!(shown, "FinanceUrl(https://finance.example)");
        for bad in ["not a url", "ftp://x", "finance:8080", "http://"] {
            let error = FinanceUrl::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} refused"));
            assert!(!error.is_empty(), "{bad}");
        }
    }
}
