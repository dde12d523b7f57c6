//! Connecting to Redis, one node or a cluster, with the same handle.
//!
//! [`Redis`] is built once per process from [`RedisSettings`]. It hands out
//! [`Conn`]s: a multiplexed connection that reconnects by itself
//! ([`Redis::shared`], for everything short) and connections of their own
//! for blocking reads ([`Redis::dedicated`]), so a read that waits for new
//! entries never holds up an acknowledgement.
//!
//! On a cluster every timeout and retry is set here explicitly rather than
//! left to the library (whose defaults retry a slot without a master for
//! minutes): [`CLUSTER_RETRIES`] attempts, waits between
//! [`CLUSTER_MIN_RETRY_WAIT_MS`] and [`CLUSTER_MAX_RETRY_WAIT_MS`], and the
//! caller's response timeout as the bound of the whole request, redirects
//! (`MOVED`/`ASK`) and slot-map refreshes included. A slot whose master is
//! down therefore fails within that timeout, and succeeds again as soon as
//! a replica has taken over: nothing needs a restart.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::settings::{RedisSettings, Topology};

/// Attempts of one cluster request after a redirect, a refused connection or `CLUSTERDOWN`.
pub const CLUSTER_RETRIES: u32 = 3;
/// Shortest wait between two attempts, in milliseconds.
pub const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 50;
/// Longest wait between two attempts, in milliseconds.
pub const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 400;
/// How long opening a TCP (and TLS) connection to one node may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

const NOT_A_CLUSTER: &str = "names a node that is not in cluster mode (use redis:// for one node)";

/// Why Redis cannot be used; each message names `REDIS_URL` (or a TLS file setting).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Url(#[from] crate::settings::UrlError),
    #[error("{variable} cannot be read: {source}")]
    File {
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("REDIS_URL cannot be used: {0}")]
    Client(String),
    #[error("REDIS_URL {0}")]
    Topology(String),
}

/// One process's way to Redis.
#[derive(Clone)]
pub struct Redis {
    kind: Kind,
    redacted: String,
}

/// Boxed: each is built once and only cloned into connections.
#[derive(Clone)]
enum Kind {
    Standalone(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("url", &self.redacted)
            .finish()
    }
}

impl Redis {
    /// Builds the clients; connects to nothing yet. Fails on a URL or TLS
    /// file that cannot work, with one line naming the setting.
    pub fn new(settings: &RedisSettings) -> Result<Self, ConnectError> {
        let topology = settings.topology()?;
        let certificates = tls_certificates(settings)?;
        let client_error = |error: redis::RedisError| {
            ConnectError::Client(crate::settings::redact(&error.to_string()))
        };
        let kind = match topology {
            Topology::Standalone(url) => Kind::Standalone(Box::new(match certificates {
                Some(certificates) => redis::Client::build_with_tls(url.as_str(), certificates)
                    .map_err(client_error)?,
                None => redis::Client::open(url.as_str()).map_err(client_error)?,
            })),
            Topology::Cluster(nodes) => {
                let mut builder = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
                    .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS)
                    .connection_timeout(CONNECT_TIMEOUT);
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                Kind::Cluster(Box::new(builder.build().map_err(client_error)?))
            }
        };
        Ok(Self {
            kind,
            redacted: settings.redacted(),
        })
    }

    /// The URL with its password masked, for logs.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// A multiplexed connection that reconnects by itself and connects
    /// lazily (a binary starts while Redis is down and recovers when it is
    /// back); `response_timeout` bounds each command, retries included.
    pub fn shared(&self, response_timeout: Duration) -> Result<Conn, ConnectError> {
        match &self.kind {
            Kind::Standalone(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout));
                let manager = ConnectionManager::new_lazy_with_config((**client).clone(), config)
                    .map_err(|error| ConnectError::Client(error.to_string()))?;
                Ok(Conn::Standalone(manager))
            }
            Kind::Cluster(client) => Ok(Conn::Cluster(
                client.get_pending_async_connection_with_config(cluster_config(response_timeout)),
            )),
        }
    }

    /// A connection of its own, for a blocking read: `response_timeout`
    /// must exceed the read's block time.
    pub async fn dedicated(&self, response_timeout: Duration) -> RedisResult<Conn> {
        match &self.kind {
            Kind::Standalone(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout));
                Ok(Conn::Dedicated(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Kind::Cluster(client) => Ok(Conn::Cluster(
                client
                    .get_async_connection_with_config(cluster_config(response_timeout))
                    .await?,
            )),
        }
    }

    /// Checks at start what can be checked: a cluster URL must name a
    /// cluster whose every slot has a master, and a standalone URL must not
    /// name a cluster node. An unreachable Redis passes (the binary starts,
    /// reports itself unhealthy and recovers); a wrong one does not.
    pub async fn check_topology(&self) -> Result<(), ConnectError> {
        let mut conn = match self.dedicated(CONNECT_TIMEOUT * 2).await {
            Ok(conn) => conn,
            Err(error) if is_unreachable(&error) => {
                tracing::warn!(url = %self.redacted, %error, "Redis is unreachable at start; going on, unhealthy until it answers");
                return Ok(());
            }
            Err(error) => return Err(self.topology_error(&error)),
        };
        match crate::health::state(&mut conn).await {
            Ok(crate::health::RedisState::Standalone) if self.is_cluster() => {
                Err(ConnectError::Topology(
                    "names a node that is not in cluster mode (use redis:// for one node)".into(),
                ))
            }
            Ok(crate::health::RedisState::ClusterNode { .. }) if !self.is_cluster() => {
                Err(ConnectError::Topology(
                    "names a Redis Cluster node; use redis+cluster://host:port,… for a cluster"
                        .into(),
                ))
            }
            Ok(crate::health::RedisState::Cluster(cluster)) if !cluster.is_ok() => {
                Err(ConnectError::Topology(format!(
                    "names a cluster that cannot serve every slot ({})",
                    cluster.summary()
                )))
            }
            Ok(_) => Ok(()),
            Err(error) if is_unreachable(&error) => Ok(()),
            Err(error) => Err(self.topology_error(&error)),
        }
    }

    fn topology_error(&self, error: &redis::RedisError) -> ConnectError {
        if error.to_string().contains("cluster support disabled") {
            return ConnectError::Topology(NOT_A_CLUSTER.into());
        }
        ConnectError::Topology(format!(
            "({}) is not usable: {}",
            self.redacted,
            crate::settings::redact(&error.to_string())
        ))
    }
}

fn cluster_config(response_timeout: Duration) -> ClusterConfig {
    ClusterConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(response_timeout)
}

/// Whether an error only means nobody answered (yet).
pub fn is_unreachable(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
}

fn tls_certificates(
    settings: &RedisSettings,
) -> Result<Option<redis::TlsCertificates>, ConnectError> {
    let read = |variable: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| ConnectError::File { variable, source })
    };
    let root_cert = match &settings.tls_ca_file {
        Some(path) => Some(read("REDIS_TLS_CA_FILE", path)?),
        None => None,
    };
    let client_tls = match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("REDIS_TLS_CERT_FILE", cert)?,
            client_key: read("REDIS_TLS_KEY_FILE", key)?,
        }),
        _ => None,
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    if !settings.is_tls() {
        return Err(ConnectError::Topology(
            "does not use TLS (rediss:// or rediss+cluster://) although REDIS_TLS_* files are set"
                .into(),
        ));
    }
    Ok(Some(redis::TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// A connection to one node or to a cluster; every command of this crate
/// runs on one.
#[derive(Clone)]
pub enum Conn {
    Standalone(ConnectionManager),
    Dedicated(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(conn) => conn.req_packed_command(cmd),
            Self::Dedicated(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(conn) => conn.get_db(),
            Self::Dedicated(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
