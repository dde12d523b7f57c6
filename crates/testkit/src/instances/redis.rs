//! A private `redis-server`.

use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use super::process::{ServerProcess, find_program, free_port};

/// How long Redis may take to accept commands (it loads its data first).
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Append-only file with `appendfsync always`: every write Redis has
    /// acknowledged survives [`RedisInstance::kill`]. Without it, a graceful
    /// [`RedisInstance::stop`] still keeps the data (a snapshot is written on
    /// shutdown) but a kill loses it.
    pub append_only: bool,
}

/// A `redis-server` of its own on a free port of 127.0.0.1; killed on drop.
pub struct RedisInstance {
    port: u16,
    options: RedisOptions,
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl RedisInstance {
    /// Starts a server and waits until it answers `PING`.
    pub async fn start() -> Self {
        Self::start_with(RedisOptions::default()).await
    }

    pub async fn start_with(options: RedisOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("clicks-test-redis-")
            .tempdir()
            .expect("a temporary directory for Redis");
        let mut instance = Self {
            port: free_port(),
            options,
            process: None,
            dir,
        };
        instance.launch().await;
        instance
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the server keeps its files (and its log, `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    async fn launch(&mut self) {
        let dir = self.dir.path();
        let mut args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.display().to_string(),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            // Snapshots only on shutdown (the save point is never reached in a test).
            "--save",
            "3600 1",
            "--logfile",
            "",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        if self.options.append_only {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(str::to_owned));
        }
        let program = find_program(&["redis-server"]);
        let mut process =
            ServerProcess::spawn("redis-server", &program, &args, &dir.join("redis.log"));
        let client = redis::Client::open(self.url()).expect("redis url");
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        process
            .wait_until_ready(START_LIMIT, || async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|error| error.to_string())?;
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
