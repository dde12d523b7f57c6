//! The system under test. One [`Cluster`] per run: a private Redis (AOF,
//! `appendfsync always`) and a private MariaDB, each on a port of its own so
//! the suite may kill and restart them, and the paths of the real binaries.
//! One [`Stage`] per scenario: a fresh migrated database, a fresh stream key
//! and webhook key, one ingest and the workers, all separate processes whose
//! logs stay in the run's directory. A stage may have a Redis Cluster of its
//! own instead of the shared Redis ([`Stage::use_redis_cluster`]), with the
//! stream split in shards and ingest waiting for replicas.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clickstream::Layout;
use runkit::conn::{Target, resolve_loopback};
use runkit::procs::{Service, free_local_addr};
use sea_orm::DatabaseConnection;
use testkit::{MariaDbInstance, RedisInstance, RedisOptions, TestDb};

use crate::clicks::ClickNames;
use crate::load::Identities;
use crate::proxy::FaultProxy;
use crate::redis_cluster::StageCluster;

const START_LIMIT: Duration = Duration::from_secs(30);
/// Consumers per worker process, each with a batch in flight.
const WORKER_LANES: u32 = 2;

/// Settings of the children that every scenario shares.
#[derive(Debug, Clone)]
pub struct ChildSettings {
    pub bin_dir: PathBuf,
    pub work_dir: PathBuf,
    /// `RUST_LOG` of the children.
    pub log: String,
    pub worker_batch_size: u32,
    /// `WORKER_CLAIM_IDLE_SECS`: how soon a replacement takes over what a
    /// killed worker left pending.
    pub claim_idle_secs: u64,
}

pub struct Cluster {
    pub run_id: String,
    pub settings: ChildSettings,
    pub redis: RedisInstance,
    pub mariadb: MariaDbInstance,
}

impl Cluster {
    /// Checks the binaries and starts the private Redis and MariaDB.
    pub async fn start(run_id: String, settings: ChildSettings) -> anyhow::Result<Self> {
        for bin in ["ingest", "worker"] {
            let path = settings.bin_dir.join(bin);
            if !path.is_file() {
                bail!(
                    "{} is missing (build with `cargo build --bins`, or pass --bin-dir)",
                    path.display()
                );
            }
        }
        std::fs::create_dir_all(&settings.work_dir)
            .with_context(|| format!("create {}", settings.work_dir.display()))?;
        let redis = RedisInstance::start_with(RedisOptions {
            append_only: true,
            ..RedisOptions::default()
        })
        .await;
        let mariadb = MariaDbInstance::start().await;
        Ok(Self {
            run_id,
            settings,
            redis,
            mariadb,
        })
    }

    /// A fresh database, stream and webhook key for scenario `number`.
    pub async fn stage(&self, number: u8) -> anyhow::Result<Stage> {
        // testkit panics when it cannot create the database: a failed
        // scenario then, not a dead run.
        let server = self.mariadb.url();
        let db = tokio::spawn(async move { TestDb::create_on(&server).await })
            .await
            .map_err(|error| anyhow::anyhow!("cannot create the scenario's database: {error}"))?;
        let ingest_addr = free_local_addr()?;
        // Two senders, as ingest's keys file lists them (see `load::Identities`).
        let suffix = testkit::unique_suffix();
        let (narrow_key, broad_key) = (
            format!("chaos-narrow-{suffix}"),
            format!("chaos-broad-{suffix}"),
        );
        let keys_file = self.settings.work_dir.join(format!("keys-s{number}.toml"));
        std::fs::write(
            &keys_file,
            format!(
                "[[sender]]\nname = \"chaos-narrow\"\nsources = [{}]\nkeys = [\"{narrow_key}\"]\n\n\
                 [[sender]]\nname = \"chaos-broad\"\nsources = [\"net_*\"]\nkeys = [\"{broad_key}\"]\n",
                crate::clicks::NARROW_SOURCES.map(|s| format!("\"{s}\"")).join(", ")
            ),
        )
        .with_context(|| format!("write {}", keys_file.display()))?;
        let identities = Arc::new(Identities {
            narrow: Arc::new(Target::new(ingest_addr, &narrow_key)?),
            broad: Arc::new(Target::new(ingest_addr, &broad_key)?),
        });
        Ok(Stage {
            number,
            names: ClickNames::new(&self.run_id, number),
            stream: format!("chaos-{}-s{number}", self.run_id),
            redis_url: self.redis.url(),
            worker_db_url: db.url.clone(),
            db,
            keys_file,
            ingest_addr,
            identities,
            ingest: None,
            workers: Vec::new(),
            settings: self.settings.clone(),
            restarts: 0,
            starts: 0,
            proxy: None,
            shards: 1,
            min_replicas_ack: 0,
            redis_cluster: None,
        })
    }

    /// The MariaDB instance's address, for a proxy in front of it.
    pub fn mariadb_addr(&self) -> anyhow::Result<SocketAddr> {
        let url = self.mariadb.url();
        let authority = url
            .split_once('@')
            .map_or(url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        resolve_loopback(authority)
    }

    /// Copies the servers' own logs next to the children's.
    pub fn keep_server_logs(&self) {
        for (name, dir) in [("redis", self.redis.dir()), ("mariadb", self.mariadb.dir())] {
            copy_logs(dir, &self.settings.work_dir.join(name));
        }
    }
}

fn copy_logs(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "log")
            && std::fs::create_dir_all(to).is_ok()
            && let Some(name) = path.file_name()
        {
            let _ = std::fs::copy(&path, to.join(name));
        }
    }
}

fn worker_label(scenario: u8, index: usize) -> String {
    format!("s{scenario}-worker-{}", index + 1)
}

/// One worker process slot: killed and started again under the same label.
struct WorkerSlot {
    service: Option<Service>,
    consumer: String,
}

/// What one scenario runs on.
pub struct Stage {
    pub number: u8,
    pub names: ClickNames,
    pub stream: String,
    pub redis_url: String,
    /// The workers' `DATABASE_URL` (a fault proxy may stand in between).
    pub worker_db_url: String,
    /// The scenario's database, reached directly.
    pub db: TestDb,
    /// Ingest's `CLICKS_KEYS_FILE`: the load's two senders.
    keys_file: PathBuf,
    ingest_addr: SocketAddr,
    identities: Arc<Identities>,
    ingest: Option<Service>,
    workers: Vec<WorkerSlot>,
    settings: ChildSettings,
    restarts: u32,
    /// Children started so far, first starts included.
    starts: u32,
    proxy: Option<Arc<FaultProxy>>,
    /// `CLICKS_STREAM_SHARDS` of ingest and the workers.
    shards: u32,
    /// `REDIS_MIN_REPLICAS_ACK` of ingest.
    min_replicas_ack: u32,
    /// The stage's own Redis Cluster, when it has one.
    pub redis_cluster: Option<StageCluster>,
}

impl Stage {
    /// The webhook senders the load signs as.
    pub fn identities(&self) -> Arc<Identities> {
        Arc::clone(&self.identities)
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.db.conn
    }

    /// The stream's keys, as ingest and the workers split it.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.stream, self.shards)
    }

    /// Puts the children started from now on onto `redis`, the stream split
    /// in `shards`, ingest answering 2xx only once `min_replicas_ack`
    /// replicas hold a click.
    pub fn use_redis_cluster(&mut self, redis: StageCluster, shards: u32, min_replicas_ack: u32) {
        self.redis_url = redis.url();
        self.redis_cluster = Some(redis);
        self.shards = shards;
        self.min_replicas_ack = min_replicas_ack;
    }

    /// How many times a child (ingest or a worker) was started, first starts included.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Routes the workers started from now on through `proxy`, which lives
    /// as long as the stage: until the workers have drained the stream.
    pub fn route_workers_through(&mut self, proxy: Arc<FaultProxy>) {
        self.worker_db_url = format!("mysql://root@{}/{}", proxy.addr(), self.db.name);
        self.proxy = Some(proxy);
    }

    /// Starts ingest (again, on the same port) and waits until it is healthy.
    pub async fn start_ingest(&mut self) -> anyhow::Result<()> {
        let env = vec![
            (
                "CLICKS_KEYS_FILE".to_owned(),
                self.keys_file.display().to_string(),
            ),
            ("REDIS_URL".to_owned(), self.redis_url.clone()),
            ("CLICKS_QUEUE_NAME".to_owned(), self.stream.clone()),
            ("CLICKS_STREAM_SHARDS".to_owned(), self.shards.to_string()),
            (
                "REDIS_MIN_REPLICAS_ACK".to_owned(),
                self.min_replicas_ack.to_string(),
            ),
            ("INGEST_BIND".to_owned(), self.ingest_addr.to_string()),
            // The machine is small and shared with the workers and the senders.
            ("INGEST_HTTP_WORKERS".to_owned(), "2".to_owned()),
            ("RUST_LOG".to_owned(), self.settings.log.clone()),
        ];
        let program = self.settings.bin_dir.join("ingest");
        let label = format!("s{}-ingest", self.number);
        let mut ingest = Service::start(
            &label,
            &program,
            &[],
            &env,
            self.ingest_addr,
            &self.settings.work_dir,
        )?;
        self.starts += 1;
        ingest.wait_healthy(START_LIMIT).await?;
        self.ingest = Some(ingest);
        Ok(())
    }

    /// `kill -9` of ingest.
    pub async fn kill_ingest(&mut self) -> anyhow::Result<()> {
        match self.ingest.take() {
            Some(ingest) => ingest.kill().await,
            None => bail!("ingest is not running"),
        }
    }

    /// Starts `count` workers and waits until each is healthy.
    pub async fn start_workers(&mut self, count: usize) -> anyhow::Result<()> {
        for index in 0..count {
            let consumer = format!("chaos-w{}", index + 1);
            self.workers.push(WorkerSlot {
                service: None,
                consumer,
            });
            self.start_worker(index).await?;
        }
        Ok(())
    }

    /// `kill -9` of worker `index`; returns its consumer names (one per lane).
    pub async fn kill_worker(&mut self, index: usize) -> anyhow::Result<Vec<String>> {
        let slot = self.workers.get_mut(index).context("no such worker")?;
        let lanes = (1..=WORKER_LANES)
            .map(|lane| format!("{}-{lane}", slot.consumer))
            .collect();
        match slot.service.take() {
            Some(worker) => worker.kill().await.map(|()| lanes),
            None => bail!("worker {} is not running", index + 1),
        }
    }

    /// Starts worker `index` again. With `new_name` it joins under a consumer
    /// name of its own, as a replacement on another host would, and what its
    /// predecessor left pending must be claimed; otherwise it takes the old
    /// name and re-reads its own pending entries first.
    pub async fn restart_worker(&mut self, index: usize, new_name: bool) -> anyhow::Result<()> {
        if new_name {
            self.restarts += 1;
            let slot = self.workers.get_mut(index).context("no such worker")?;
            slot.consumer = format!("chaos-w{}-r{}", index + 1, self.restarts);
        }
        self.start_worker(index).await
    }

    async fn start_worker(&mut self, index: usize) -> anyhow::Result<()> {
        let addr = free_local_addr()?;
        let slot = self.workers.get(index).context("no such worker")?;
        let env = vec![
            ("DATABASE_URL".to_owned(), self.worker_db_url.clone()),
            ("REDIS_URL".to_owned(), self.redis_url.clone()),
            ("CLICKS_QUEUE_NAME".to_owned(), self.stream.clone()),
            ("CLICKS_STREAM_SHARDS".to_owned(), self.shards.to_string()),
            (
                "CLICKS_BATCH_SIZE".to_owned(),
                self.settings.worker_batch_size.to_string(),
            ),
            ("WORKER_BIND".to_owned(), addr.to_string()),
            ("WORKER_CONSUMER_NAME".to_owned(), slot.consumer.clone()),
            ("WORKER_CONCURRENCY".to_owned(), WORKER_LANES.to_string()),
            (
                "WORKER_CLAIM_IDLE_SECS".to_owned(),
                self.settings.claim_idle_secs.to_string(),
            ),
            ("RUST_LOG".to_owned(), self.settings.log.clone()),
        ];
        let program = self.settings.bin_dir.join("worker");
        let label = worker_label(self.number, index);
        let mut worker =
            Service::start(&label, &program, &[], &env, addr, &self.settings.work_dir)?;
        self.starts += 1;
        worker.wait_healthy(START_LIMIT).await?;
        if let Some(slot) = self.workers.get_mut(index) {
            slot.service = Some(worker);
        }
        Ok(())
    }

    /// Fails when a process that should run has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(ingest) = &mut self.ingest {
            ingest.ensure_running()?;
        }
        for slot in &mut self.workers {
            if let Some(worker) = &mut slot.service {
                worker.ensure_running()?;
            }
        }
        Ok(())
    }

    /// Lines of the workers' logs (all their lives) that contain `needle`.
    pub fn worker_log_lines(&self, needle: &str) -> usize {
        (0..self.workers.len())
            .map(|index| {
                let log = self
                    .settings
                    .work_dir
                    .join(format!("{}.log", worker_label(self.number, index)));
                std::fs::read_to_string(log)
                    .map(|text| text.lines().filter(|line| line.contains(needle)).count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// RSS now of every running child, by label.
    pub fn rss(&self) -> Vec<(String, Option<f64>)> {
        self.ingest
            .iter()
            .chain(self.workers.iter().filter_map(|slot| slot.service.as_ref()))
            .map(|service| (service.label.clone(), service.rss_mb()))
            .collect()
    }

    /// Stops every child (SIGTERM); returns what did not stop cleanly.
    pub async fn shutdown(&mut self) -> Vec<String> {
        let mut trouble = Vec::new();
        let services = self
            .workers
            .iter_mut()
            .filter_map(|slot| slot.service.take())
            .chain(self.ingest.take());
        for service in services {
            let stopped = service.stop().await;
            if let Some(problem) = stopped.trouble {
                trouble.push(format!("{}: {problem}", stopped.label));
            }
        }
        trouble
    }
}
