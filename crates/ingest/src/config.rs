//! Settings of `ingest`: every one a flag and an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser;
use domain::SignatureVerifier;
use domain::standard_webhooks::StandardVerifier;

/// Verifies signed click webhooks and appends them to the Redis stream.
#[derive(Debug, Clone, Parser)]
#[command(name = "ingest", version, about, args_override_self = true)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// HMAC key(s) of the `X-Signature` header; a comma-separated list accepts any of them (key rotation). The implicit sender, allowed every source; required unless CLICKS_KEYS_FILE has senders.
    #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true, value_parser = service_runtime::SecretValue::new("WEBHOOK_SECRET_KEY", parse_keys))]
    pub webhook_secret_key: Option<WebhookKeys>,

    /// The keys file: senders (`[[sender]]`: keys, allowed sources, rate) and reporting keys; followed while running (a change applies within 2 s, or at SIGHUP).
    #[arg(long, env = "CLICKS_KEYS_FILE")]
    pub clicks_keys_file: Option<std::path::PathBuf>,

    /// Days of clicks the service keeps (UTC dates): clicks of older dates are refused (400), since their raw rows — the dedupe of click_id — may be deleted. Unset: any date.
    #[arg(long, env = "CLICKS_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_600))]
    pub clicks_retention_days: Option<u32>,

    /// Seconds between checks of CLICKS_KEYS_FILE for a new version (SIGHUP checks at once).
    #[arg(long, env = "CLICKS_KEYS_FILE_CHECK_SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub clicks_keys_file_check_secs: u64,

    #[command(flatten)]
    pub redis: clickstream::RedisSettings,

    /// The stream key clicks are appended to.
    #[arg(long, env = "CLICKS_QUEUE_NAME", default_value = "clicks-processing")]
    pub clicks_queue_name: String,

    /// Stream keys the clicks are spread over: 1 is `CLICKS_QUEUE_NAME` itself,
    /// N > 1 is `<CLICKS_QUEUE_NAME>:{<tag>}`, one hash-tagged key per shard
    /// spread evenly over a cluster's slots, a click going to the shard its
    /// offer_id hashes to. Every ingest and worker must use the same value.
    #[arg(long, env = "CLICKS_STREAM_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clicks_stream_shards: u32,

    /// Listen address.
    #[arg(long, env = "INGEST_BIND", default_value = "0.0.0.0:8080")]
    pub ingest_bind: SocketAddr,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "INGEST_HTTP_WORKERS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub http_workers: Option<usize>,

    /// Largest body of `POST /api/webhook/clicks`, in bytes (512 B to 64 MiB).
    #[arg(long, env = "WEBHOOK_MAX_BODY_BYTES", default_value_t = 64 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(512..=64 * 1024 * 1024))]
    pub max_body_bytes: usize,

    /// Largest body of `POST /api/webhook/clicks/batch`, in bytes (1 KiB to 512 MiB).
    #[arg(long, env = "WEBHOOK_MAX_BATCH_BODY_BYTES", default_value_t = 8 * 1024 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=512 * 1024 * 1024))]
    pub max_batch_body_bytes: usize,

    /// Most stream entries written in one Redis pipeline.
    #[arg(long, env = "ENQUEUE_MAX_PIPELINE", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub enqueue_max_pipeline: u32,

    /// Most collections in flight to Redis at once; a collection waits up
    /// to 2 ms for the previous one's answer before it goes out beside it.
    #[arg(long, env = "ENQUEUE_MAX_IN_FLIGHT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub enqueue_max_in_flight: u32,

    /// `lz4`: packed stream entries of 16 clicks or more are compressed
    /// (`clicks_lz4`, a third to two thirds of the bytes in Redis and on the
    /// way to its replicas); `none`: never, for workers older than `clicks_lz4`.
    #[arg(long, env = "CLICKS_PACK_COMPRESSION", default_value = "lz4", value_parser = clap::builder::PossibleValuesParser::new(["lz4", "none"]).try_map(|text: String| text.parse::<domain::stream_entry::PackCompression>()))]
    pub pack_compression: domain::stream_entry::PackCompression,

    /// Longest a client may take to send its request headers, in milliseconds (then 408 and the connection closes).
    #[arg(long, env = "WEBHOOK_HEADER_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub header_timeout_ms: u64,

    /// Longest a client may take to send its body, in milliseconds (then 408).
    #[arg(long, env = "WEBHOOK_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub body_timeout_ms: u64,

    /// Refuse webhooks without the Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).
    #[arg(long, env = "WEBHOOK_REQUIRE_TIMESTAMP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_require_timestamp: bool,

    /// How far webhook-timestamp may be from now, either way, in seconds; ids are remembered twice as long.
    #[arg(long, env = "WEBHOOK_TIMESTAMP_TOLERANCE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub webhook_timestamp_tolerance_secs: u64,

    /// Webhook requests per second allowed to one client IP (token bucket); 0 turns the limit off.
    #[arg(long, env = "WEBHOOK_RATE_LIMIT", default_value_t = 0)]
    pub webhook_rate_limit: u32,

    /// Bucket size of the per-IP limit: requests a client may send at once (default: the rate).
    #[arg(long, env = "WEBHOOK_RATE_BURST", value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_rate_burst: Option<u32>,

    /// Only these networks (comma-separated CIDRs, IPv4 or IPv6) may call the webhooks; others get 403. Empty: everyone.
    #[arg(long, env = "WEBHOOK_ALLOWED_IPS", default_value = "", value_parser = parse_networks)]
    pub webhook_allowed_ips: Networks,

    /// Proxies (CIDRs) whose X-Forwarded-For is believed when they are the socket's peer.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = parse_networks)]
    pub trusted_proxies: Networks,

    /// Backlog (entries not yet delivered plus delivered but not acknowledged,
    /// for the slowest consumer group) at which webhooks get 503; readiness
    /// turns false at 80% of it. 0 turns the limit off.
    #[arg(long, env = "STREAM_MAX_BACKLOG", default_value_t = 1_000_000)]
    pub stream_max_backlog: u64,

    /// How long a webhook waits for Redis before it is answered 503, in milliseconds.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,

    /// Replicas that must hold a click's stream entry before it is answered
    /// 2xx (Redis `WAIT`, in the same pipeline as the entries); fewer: 503.
    /// 0: the master's acknowledgement is enough.
    #[arg(long, env = "REDIS_MIN_REPLICAS_ACK", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_min_replicas_ack: u32,

    /// How long `WAIT` may wait for those replicas, in milliseconds (below `REDIS_TIMEOUT_MS`).
    #[arg(long, env = "REDIS_REPLICA_ACK_TIMEOUT_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_replica_ack_timeout_ms: u64,
}

impl Settings {
    /// The stream keys clicks go to (see `clickstream::layout`).
    pub fn layout(&self) -> clickstream::Layout {
        clickstream::Layout::new(&self.clicks_queue_name, self.clicks_stream_shards)
    }

    pub fn replica_ack_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_replica_ack_timeout_ms)
    }

    /// Checks what clap cannot: settings that depend on each other.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.redis_min_replicas_ack > 0
            && self.redis_replica_ack_timeout_ms >= self.redis_timeout_ms
        {
            anyhow::bail!(
                "REDIS_REPLICA_ACK_TIMEOUT_MS ({}) must be below REDIS_TIMEOUT_MS ({})",
                self.redis_replica_ack_timeout_ms,
                self.redis_timeout_ms
            );
        }
        Ok(())
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Serve the webhooks (the default).
    Serve,
    /// Make keys for the keys file (CLICKS_KEYS_FILE).
    Keys(crate::keys_cli::KeysArgs),
}

/// A parsed list of networks (a newtype so clap treats it as one value).
#[derive(Debug, Clone, Default)]
pub struct Networks(pub Vec<ipnet::IpNet>);

fn parse_networks(list: &str) -> Result<Networks, String> {
    crate::guard::parse_networks(list).map(Networks)
}

/// The `WEBHOOK_SECRET_KEY` list, checked (non-empty, `whsec_` keys
/// decode); it never prints.
#[derive(Clone)]
pub struct WebhookKeys(secrecy::SecretString);

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKeys(…)")
    }
}

impl WebhookKeys {
    pub fn list(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

fn parse_keys(list: &str) -> Result<WebhookKeys, String> {
    SignatureVerifier::from_key_list(list).map_err(|error| error.to_string())?;
    StandardVerifier::from_key_list(list).map_err(|error| error.to_string())?;
    Ok(WebhookKeys(secrecy::SecretString::from(list.to_owned())))
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn settings_never_print_their_secrets() {
        let settings = Settings::try_parse_from([
            "ingest",
            "--webhook-secret-key=key-hunter1,whsec_aHVudGVyMg",
            "--redis-url=redis://app:hunter3@cache:6379",
        ])
        .expect("settings");
        let printed = format!("{settings:?}");
        for secret in ["hunter1", "aHVudGVyMg", "hunter3"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_help_states_the_collectors_wait_as_the_code_has_it() {
        let help = Settings::command().render_long_help().to_string();
        let wait = clickstream::enqueue::OVERLAP_AFTER.as_millis();
        assert!(
            help.contains(&format!(
                "waits up to {wait} ms for the previous one's answer"
            )),
            "ENQUEUE_MAX_IN_FLIGHT's help (and the README) must name OVERLAP_AFTER: {help}"
        );
    }

    #[test]
    fn packs_are_compressed_unless_told_not_to() {
        use domain::stream_entry::{COMPRESS_MIN_CLICKS, PackCompression};
        let parse = |extra: &[&str]| {
            let mut args = vec!["ingest", "--webhook-secret-key=k"];
            args.extend_from_slice(extra);
            Settings::try_parse_from(args).map(|settings| settings.pack_compression)
        };
        assert_eq!(parse(&[]).expect("default"), PackCompression::Lz4);
        assert_eq!(
            parse(&["--pack-compression=none"]).expect("none"),
            PackCompression::None
        );
        let refused = parse(&["--pack-compression=zstd"]).expect_err("zstd");
        assert!(refused.to_string().contains("lz4"), "{refused}");
        let help = Settings::command().render_long_help().to_string();
        assert!(
            help.contains(&format!("entries of {COMPRESS_MIN_CLICKS} clicks or more")),
            "CLICKS_PACK_COMPRESSION's help (and the README) must name COMPRESS_MIN_CLICKS: {help}"
        );
    }
}
