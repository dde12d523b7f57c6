//! A private `redis-server`: plain, behind TLS, behind a password or an ACL
//! user, or as one node of a [`RedisCluster`](super::RedisCluster).

use std::path::Path;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ClientTlsConfig, TlsCertificates};
use tempfile::TempDir;

use super::process::{ServerProcess, find_program, free_port};
use super::tls::TlsFiles;

/// How long Redis may take to accept commands (it loads its data first).
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Connecting to, and every answer of, a server of ours on 127.0.0.1 is a
/// matter of milliseconds: longer means it is down (or stopped by a test).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(1);
/// What stays literal in a URL's user and password: RFC 3986's unreserved
/// characters. Everything else (`@`, `:`, `/`, `%`, spaces…) is escaped.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Append-only file with `appendfsync always`: every write Redis has
    /// acknowledged survives [`RedisInstance::kill`]. Without it, a graceful
    /// [`RedisInstance::stop`] still keeps the data (a snapshot is written on
    /// shutdown) but a kill loses it.
    pub append_only: bool,
    /// TLS only (`--port 0 --tls-port <port>`): the instance makes a
    /// throwaway CA in its directory, with a server certificate for
    /// `127.0.0.1`/`localhost` and a client certificate. [`RedisInstance::url`]
    /// is `rediss://…`; a client has to trust [`RedisInstance::ca_file`]. A
    /// client certificate is accepted but not required
    /// (`tls-auth-clients optional`), so both plain and mutual TLS work.
    pub tls: bool,
    /// `requirepass`: the default user needs this password.
    pub password: Option<String>,
    /// An ACL user (name, password) allowed everything (`~* &* +@all`);
    /// [`RedisInstance::url`] logs in as this user. The default user keeps
    /// `password` if one is given and is disabled otherwise, so that a
    /// client without credentials can never run a command (NOAUTH).
    pub acl_user: Option<(String, String)>,
}

/// How the server is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Standalone,
    /// `cluster-enabled`, tuned for quick failovers; see [`RedisCluster`](super::RedisCluster).
    ClusterNode,
}

/// A `redis-server` of its own on a free port of 127.0.0.1; killed on drop.
pub struct RedisInstance {
    port: u16,
    options: RedisOptions,
    role: Role,
    /// Generated once, so a restarted server keeps its certificates and a
    /// client built before the restart still trusts it.
    tls: Option<TlsFiles>,
    // Declared before `dir`: the process is killed before its directory goes.
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl RedisInstance {
    /// Starts a server and waits until it answers `PING`.
    pub async fn start() -> Self {
        Self::start_with(RedisOptions::default()).await
    }

    pub async fn start_with(options: RedisOptions) -> Self {
        Self::create(free_port(), options, Role::Standalone).await
    }

    /// A node of a Redis Cluster on `port` (its bus port, `port + 10000`,
    /// must be free too), with an append-only file synced on every write.
    pub(super) async fn start_cluster_node(port: u16) -> Self {
        let options = RedisOptions {
            append_only: true,
            ..RedisOptions::default()
        };
        Self::create(port, options, Role::ClusterNode).await
    }

    async fn create(port: u16, options: RedisOptions, role: Role) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(match role {
                Role::Standalone => "clicks-test-redis-",
                Role::ClusterNode => "clicks-test-redis-cluster-",
            })
            .tempdir()
            .expect("a temporary directory for Redis");
        let tls = options.tls.then(|| TlsFiles::generate(dir.path()));
        let mut instance = Self {
            port,
            options,
            role,
            tls,
            process: None,
            dir,
        };
        instance.launch().await;
        instance
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` with TLS), with the user and
    /// password percent-encoded in it when the server asks for them.
    pub fn url(&self) -> String {
        let credentials = match (&self.options.acl_user, &self.options.password) {
            (Some((user, password)), _) => format!(
                "{}:{}@",
                utf8_percent_encode(user, USERINFO),
                utf8_percent_encode(password, USERINFO)
            ),
            (None, Some(password)) => format!(":{}@", utf8_percent_encode(password, USERINFO)),
            (None, None) => String::new(),
        };
        format!("{}://{credentials}127.0.0.1:{}", self.scheme(), self.port)
    }

    /// [`url`](Self::url) without user or password, for tests that a server
    /// refuses an unauthenticated client.
    pub fn url_without_credentials(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    /// A client for [`url`](Self::url); with TLS it trusts the instance's CA
    /// and presents the client certificate (mutual TLS).
    pub fn client(&self) -> redis::Client {
        match &self.tls {
            None => redis::Client::open(self.url()).expect("redis url"),
            Some(files) => {
                let certificates = TlsCertificates {
                    client_tls: Some(ClientTlsConfig {
                        client_cert: read(&files.client_cert),
                        client_key: read(&files.client_key),
                    }),
                    root_cert: Some(read(&files.ca_cert)),
                };
                redis::Client::build_with_tls(self.url(), certificates).expect("redis TLS client")
            }
        }
    }

    /// The port the server listens on (its TLS port, with TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the server keeps its files (and its log, `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM) that signed the server and client certificates.
    ///
    /// Panics unless the instance was started with [`RedisOptions::tls`].
    pub fn ca_file(&self) -> &Path {
        &self.tls_files().ca_cert
    }

    /// A client certificate (PEM) the server accepts, for mutual TLS.
    ///
    /// Panics unless the instance was started with [`RedisOptions::tls`].
    pub fn client_cert_file(&self) -> &Path {
        &self.tls_files().client_cert
    }

    /// The key (PEM, PKCS #8) of [`client_cert_file`](Self::client_cert_file).
    ///
    /// Panics unless the instance was started with [`RedisOptions::tls`].
    pub fn client_key_file(&self) -> &Path {
        &self.tls_files().client_key
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Graceful shutdown (SIGTERM): Redis persists its data and exits.
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.terminate(STOP_GRACE).await;
        }
    }

    /// SIGKILL: what was not yet on disk is lost (nothing, with `append_only`).
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port with the same data (stopping
    /// it gracefully first if it runs).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// A connection that gives up after [`ADMIN_TIMEOUT`], for probing a
    /// server that may be down.
    pub(super) async fn admin_connection(&self) -> Result<MultiplexedConnection, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ADMIN_TIMEOUT))
            .set_response_timeout(Some(ADMIN_TIMEOUT));
        self.client()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| error.to_string())
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    fn tls_files(&self) -> &TlsFiles {
        self.tls
            .as_ref()
            .expect("a TLS instance (RedisOptions::tls)")
    }

    fn args(&self) -> Vec<String> {
        let port = self.port.to_string();
        let dir = self.dir.path().display().to_string();
        let mut args = strings(&[
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            "",
        ]);
        match &self.tls {
            None => args.extend(strings(&["--port", &port])),
            Some(files) => args.extend(strings(&[
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                &files.server_cert.display().to_string(),
                "--tls-key-file",
                &files.server_key.display().to_string(),
                "--tls-ca-cert-file",
                &files.ca_cert.display().to_string(),
                "--tls-auth-clients",
                "optional",
            ])),
        }
        match self.role {
            // Snapshots only on shutdown (the save point is never reached in a test).
            Role::Standalone => args.extend(strings(&["--save", "3600 1"])),
            Role::ClusterNode => args.extend(strings(&[
                // The append-only file is the durability; no snapshots.
                "--save",
                "",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                // A node silent for 1 s is failing: failovers take seconds, not the default 15 s.
                "--cluster-node-timeout",
                "1000",
                // A replica may always take over, however long it was cut off:
                // a test that kills a master wants the failover, not a stalled cluster.
                "--cluster-replica-validity-factor",
                "0",
                // Slots that still have a master keep serving while another
                // range has none (the setting the service's docs recommend).
                "--cluster-require-full-coverage",
                "no",
                // Replicas sync over the socket at once instead of after 5 s.
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ])),
        }
        if self.options.append_only {
            args.extend(strings(&["--appendonly", "yes", "--appendfsync", "always"]));
        }
        if let Some(password) = &self.options.password {
            args.extend(strings(&["--requirepass", password]));
        }
        if let Some((user, password)) = &self.options.acl_user {
            // Each argument is passed on as one (quoted) word, so a password
            // with spaces stays whole.
            args.extend(strings(&[
                "--user",
                user,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
            ]));
            if self.options.password.is_none() {
                args.extend(strings(&["--user", "default", "off"]));
            }
        }
        args
    }

    async fn launch(&mut self) {
        let program = find_program(&["redis-server"]);
        let mut process = ServerProcess::spawn(
            "redis-server",
            &program,
            &self.args(),
            &self.dir.path().join("redis.log"),
        );
        process
            .wait_until_ready(START_LIMIT, || async {
                let mut conn = self.admin_connection().await?;
                // Answers LOADING until the data is back in memory.
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string())
            })
            .await;
        self.process = Some(process);
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}
