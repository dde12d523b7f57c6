//! Everything one bench run owns — its database, stream key, child processes
//! and their logs — and the cleanup that removes all of it, error or not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use domain::stream_entry::PackCompression;

use crate::cli::RunArgs;
use crate::conn::{Target, ensure_loopback_url};
use crate::cpu::{Cpu, Process};
use crate::db::BenchDb;
use crate::load::Senders;
use crate::payload::new_run_id;
use crate::procs::{Service, Stopped, free_local_addr};
use crate::stream::BenchStream;
use crate::topology::{RedisTarget, ensure_loopback_redis};

const START_LIMIT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub args: RunArgs,
    /// The Redis of this run, its stream shards and replica acknowledgement.
    pub redis: RedisTarget,
    pub run_id: String,
    /// Clicks accepted into the stream that no worker has stored yet.
    pub backlog: u64,
    /// Workers stopped so far, with their peak RSS.
    pub stopped_workers: Vec<Stopped>,
    /// Things that make the run fail even though a table is printed.
    pub problems: Vec<String>,
    secret: String,
    bin_dir: PathBuf,
    work_dir: PathBuf,
    db: Option<BenchDb>,
    stream: Option<BenchStream>,
    ingest: Option<Service>,
    workers: Vec<Service>,
    target: Option<Arc<Target>>,
    /// A connection to each Redis node, for its CPU time; made on first use.
    redis_nodes: Option<Vec<clickstream::Conn>>,
}

impl Harness {
    pub fn new(args: RunArgs, redis: RedisTarget) -> Self {
        let run_id = new_run_id();
        let work_dir = std::env::temp_dir().join(format!("clicks-bench-{run_id}"));
        Self {
            secret: format!("bench-secret-{}", new_run_id()),
            bin_dir: args.bin_dir.clone(),
            args,
            redis,
            run_id,
            backlog: 0,
            stopped_workers: Vec::new(),
            problems: Vec::new(),
            work_dir,
            db: None,
            stream: None,
            ingest: None,
            workers: Vec::new(),
            target: None,
            redis_nodes: None,
        }
    }

    pub fn stream_key(&self) -> String {
        format!("bench-{}", self.run_id)
    }

    /// Checks the binaries, creates and migrates the database, opens the
    /// stream and starts ingest.
    pub async fn setup(&mut self) -> anyhow::Result<()> {
        ensure_loopback_redis(&self.redis.url)?;
        ensure_loopback_url(&self.args.mysql_server)?;
        self.bin_dir = std::fs::canonicalize(&self.args.bin_dir).with_context(|| {
            format!(
                "--bin-dir {} (build with `cargo build --release --bins`)",
                self.args.bin_dir.display()
            )
        })?;
        for bin in ["ingest", "worker", "migrate"] {
            let path = self.bin_dir.join(bin);
            if !path.is_file() {
                bail!(
                    "{} is missing (build with `cargo build --release --bins`)",
                    path.display()
                );
            }
        }
        std::fs::create_dir_all(&self.work_dir)
            .with_context(|| format!("create {}", self.work_dir.display()))?;
        self.stream =
            Some(BenchStream::open(&self.redis.url, self.stream_key(), self.redis.shards).await?);
        let db = BenchDb::create(&self.args.mysql_server, &self.run_id).await?;
        note(format!(
            "database {}, stream {}",
            db.name,
            self.stream_key()
        ));
        let migrate = self.bin_dir.join("migrate");
        self.db.insert(db).migrate(&migrate).await?;
        self.start_ingest(self.redis.min_replicas_ack).await
    }

    /// Stops ingest and starts it again with `REDIS_MIN_REPLICAS_ACK`
    /// `min_replicas_ack`, on the same stream.
    pub async fn restart_ingest(&mut self, min_replicas_ack: u32) -> anyhow::Result<()> {
        self.stop_ingest().await;
        self.start_ingest(min_replicas_ack).await
    }

    async fn stop_ingest(&mut self) {
        self.target = None;
        if let Some(ingest) = self.ingest.take() {
            let stopped = ingest.stop().await;
            if let Some(trouble) = &stopped.trouble {
                note(format!("ingest: {trouble}"));
            }
        }
    }

    async fn start_ingest(&mut self, min_replicas_ack: u32) -> anyhow::Result<()> {
        let key = self.secret.clone();
        self.start_ingest_with(min_replicas_ack, Vec::new(), &key, None)
            .await
    }

    /// Stops ingest and starts it again with `extra` settings, the load
    /// signing with `key` and naming `sender` when given.
    pub async fn restart_ingest_with(
        &mut self,
        extra: Vec<(String, String)>,
        key: &str,
        sender: Option<&str>,
    ) -> anyhow::Result<()> {
        self.stop_ingest().await;
        let min_replicas_ack = self.redis.min_replicas_ack;
        self.start_ingest_with(min_replicas_ack, extra, key, sender)
            .await
    }

    /// The `WEBHOOK_SECRET_KEY` of this run.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Where this run keeps its files.
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work_dir
    }

    async fn start_ingest_with(
        &mut self,
        min_replicas_ack: u32,
        extra: Vec<(String, String)>,
        key: &str,
        sender: Option<&str>,
    ) -> anyhow::Result<()> {
        let addr = free_local_addr()?;
        let mut env = vec![
            ("WEBHOOK_SECRET_KEY".to_owned(), self.secret.clone()),
            ("REDIS_URL".to_owned(), self.redis.url.clone()),
            ("CLICKS_QUEUE_NAME".to_owned(), self.stream_key()),
            ("INGEST_BIND".to_owned(), addr.to_string()),
            (
                "REDIS_MIN_REPLICAS_ACK".to_owned(),
                min_replicas_ack.to_string(),
            ),
            ("RUST_LOG".to_owned(), self.args.child_log.clone()),
            // The webhook scenarios pile up millions of entries with no
            // worker running, on purpose: backpressure would cut them short.
            // `--ingest-env STREAM_MAX_BACKLOG=…` measures it instead.
            ("STREAM_MAX_BACKLOG".to_owned(), "0".to_owned()),
            (
                "CLICKS_STREAM_SHARDS".to_owned(),
                self.redis.shards.to_string(),
            ),
        ];
        env.extend(self.args.ingest_env.iter().cloned());
        env.extend(extra);
        let program = self.bin_dir.join("ingest");
        let mut ingest = Service::start("ingest", &program, &[], &env, addr, &self.work_dir)?;
        ingest.wait_healthy(START_LIMIT).await?;
        let target = Target::new(addr, key)?;
        self.target = Some(Arc::new(match sender {
            Some(sender) => target.naming(sender)?,
            None => target,
        }));
        self.ingest = Some(ingest);
        note(format!(
            "ingest ready on {addr} (REDIS_MIN_REPLICAS_ACK {min_replicas_ack})"
        ));
        Ok(())
    }

    /// Webhook senders to ingest.
    pub fn senders(&self, tag: &str, connections: usize) -> anyhow::Result<Senders> {
        let target = self.target.as_ref().context("ingest is not running")?;
        Ok(Senders {
            target: Arc::clone(target),
            run_id: self.run_id.clone(),
            tag: tag.to_owned(),
            connections,
            request_timeout: self.args.common.request_timeout,
            ids: self.args.ids,
        })
    }

    pub fn db(&self) -> anyhow::Result<&BenchDb> {
        self.db.as_ref().context("no database")
    }

    pub fn stream(&self) -> anyhow::Result<&BenchStream> {
        self.stream.as_ref().context("no stream")
    }

    /// How this run's Redis persists writes, as it says itself.
    pub async fn persistence(&self) -> String {
        let Some(stream) = &self.stream else {
            return "unknown".to_owned();
        };
        match tokio::time::timeout(Duration::from_secs(2), stream.persistence()).await {
            Ok(Ok(persistence)) => persistence,
            Ok(Err(error)) => format!("unknown ({error:#})"),
            Err(_) => "unknown (no answer within 2 s)".to_owned(),
        }
    }

    /// Starts `count` workers labelled `<label> #i`; waits until each is healthy.
    pub async fn start_workers(&mut self, count: u64, label: &str) -> anyhow::Result<()> {
        let db_url = self.db()?.url.clone();
        let program = self.bin_dir.join("worker");
        for i in 1..=count {
            let addr = free_local_addr()?;
            let mut env = vec![
                ("DATABASE_URL".to_owned(), db_url.clone()),
                ("REDIS_URL".to_owned(), self.redis.url.clone()),
                ("CLICKS_QUEUE_NAME".to_owned(), self.stream_key()),
                (
                    "CLICKS_BATCH_SIZE".to_owned(),
                    self.args.worker_batch_size.to_string(),
                ),
                (
                    "CLICKS_STREAM_SHARDS".to_owned(),
                    self.redis.shards.to_string(),
                ),
                (
                    "WORKER_CONCURRENCY".to_owned(),
                    self.args.worker_concurrency.to_string(),
                ),
                ("WORKER_BIND".to_owned(), addr.to_string()),
                ("RUST_LOG".to_owned(), self.args.child_log.clone()),
            ];
            env.extend(self.args.worker_env.iter().cloned());
            let name = format!("worker {label} #{i}");
            let worker = Service::start(&name, &program, &[], &env, addr, &self.work_dir)?;
            self.workers.push(worker);
        }
        for worker in &mut self.workers {
            worker.wait_healthy(START_LIMIT).await?;
        }
        Ok(())
    }

    /// Fails when ingest has exited.
    pub fn ensure_ingest_running(&mut self) -> anyhow::Result<()> {
        match &mut self.ingest {
            Some(ingest) => ingest.ensure_running(),
            None => bail!("ingest is not running"),
        }
    }

    /// Fails when ingest or a worker has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        self.ensure_ingest_running()?;
        for worker in &mut self.workers {
            worker.ensure_running()?;
        }
        Ok(())
    }

    /// CPU seconds used so far by ingest, by the Redis nodes (the masters
    /// and the replicas apart) and by this process.
    pub async fn cpu(&mut self) -> Cpu {
        if self.redis_nodes.is_none() {
            let nodes = crate::topology::nodes_of(&self.redis.url).await;
            self.redis_nodes = Some(nodes.unwrap_or_else(|error| {
                note(format!("Redis CPU time is not measured: {error:#}"));
                Vec::new()
            }));
        }
        let nodes = self.redis_nodes.as_mut().expect("just set");
        let mut all_read = !nodes.is_empty();
        let (mut redis, mut replicas, mut replica_seen) = (0.0, 0.0, false);
        for conn in nodes.iter_mut() {
            let reading =
                tokio::time::timeout(Duration::from_secs(2), clickstream::inspect::node_cpu(conn));
            match reading.await {
                Ok(Ok(node)) if node.replica => {
                    replicas += node.seconds;
                    replica_seen = true;
                }
                Ok(Ok(node)) => redis += node.seconds,
                _ => all_read = false,
            }
        }
        Cpu {
            ingest: self
                .ingest
                .as_ref()
                .and_then(|ingest| Process { pid: ingest.pid()? }.cpu_seconds()),
            redis: all_read.then_some(redis),
            replicas: (all_read && replica_seen).then_some(replicas),
            load: Process::this().cpu_seconds(),
        }
    }

    /// How ingest packs clicks in this run (its `CLICKS_PACK_COMPRESSION`
    /// from `--ingest-env`, else the default), for backlogs the bench writes itself.
    pub fn pack_compression(&self) -> anyhow::Result<PackCompression> {
        match self
            .args
            .ingest_env
            .iter()
            .rev()
            .find(|(name, _)| name == "CLICKS_PACK_COMPRESSION")
        {
            Some((_, value)) => value
                .parse()
                .map_err(|error| anyhow::anyhow!("--ingest-env CLICKS_PACK_COMPRESSION: {error}")),
            None => Ok(PackCompression::default()),
        }
    }

    /// CPU seconds the running workers have used so far, all together.
    pub fn workers_cpu_seconds(&self) -> Option<f64> {
        self.workers
            .iter()
            .map(|worker| Process { pid: worker.pid()? }.cpu_seconds())
            .sum()
    }

    /// Stops every worker (SIGTERM), keeping their peak RSS.
    pub async fn stop_workers(&mut self) {
        for worker in std::mem::take(&mut self.workers) {
            let stopped = worker.stop().await;
            if let Some(trouble) = &stopped.trouble {
                note(format!("{}: {trouble}", stopped.label));
            }
            self.stopped_workers.push(stopped);
        }
    }

    /// Peak RSS of ingest so far, in MB.
    pub fn ingest_peak_rss_mb(&self) -> Option<f64> {
        self.ingest.as_ref().and_then(Service::peak_rss_mb)
    }

    /// Stops every child, deletes the stream keys and drops the database.
    /// Logs are kept (and their place printed) when something failed.
    pub async fn cleanup(&mut self, failed: bool) {
        self.stop_workers().await;
        self.stop_ingest().await;
        if let Some(stream) = self.stream.take() {
            match stream.delete_all().await {
                Ok(n) => note(format!("deleted {n} Redis key(s) {}*", stream.key)),
                Err(error) => note(format!("could not delete {}*: {error:#}", stream.key)),
            }
        }
        if let Some(db) = self.db.take() {
            let name = db.name.clone();
            match db.drop_database().await {
                Ok(()) => note(format!("dropped database {name}")),
                Err(error) => note(format!("could not drop database {name}: {error:#}")),
            }
        }
        let keep = failed || !self.problems.is_empty() || self.args.keep_logs;
        if keep {
            if self.work_dir.exists() {
                note(format!("child logs kept in {}", self.work_dir.display()));
            }
        } else {
            remove_dir(&self.work_dir);
        }
    }
}

fn remove_dir(dir: &Path) {
    if dir.exists()
        && let Err(error) = std::fs::remove_dir_all(dir)
    {
        note(format!("could not remove {}: {error}", dir.display()));
    }
}

/// Progress goes to stderr; stdout holds only the table (and JSON lines).
pub fn note(message: String) {
    eprintln!("clicks-bench: {message}");
}
