//! The run: the private servers, then each selected scenario on a stage of
//! its own, then the table.
//!
//! Every scenario ends the same way ([`Scene::check`]): the load stops (the
//! senders get a grace period to retry what got no 2xx), the workers drain
//! the stream, the children are stopped, and MariaDB and the dead-letter
//! stream are set against the senders' ledger.
//!
//! Scenarios 9–11 run on a Redis Cluster of their own ([`failover`]); the
//! others share the run's Redis.

mod answered;
mod checks;
mod cluster_double_failover;
mod cluster_master_kill;
mod cluster_masterless;
mod db_outage;
mod duplicate_storm;
mod failover;
mod flaky_network;
mod ingest_kills;
mod poison;
mod redis_outage;
mod soak;
mod worker_kills;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clickstream::EntryId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cli::{Cli, Plan};
use crate::cluster::{ChildSettings, Cluster, Stage};
use crate::ledger::Tally;
use crate::load::{Load, LoadPlan, Workload};
use crate::queue::{Mark, Queue};
use crate::redis_cluster::StageCluster;
use crate::report::{self, Row};

/// How often the suite looks at the stream or the children while it waits.
const POLL: Duration = Duration::from_millis(100);

pub fn title(number: u8) -> &'static str {
    match number {
        1 => "worker kill -9 (3 workers)",
        2 => "ingest kill -9",
        3 => "MariaDB down",
        4 => "Redis down (AOF always)",
        5 => "worker↔MariaDB delays and resets",
        6 => "poison entries",
        7 => "duplicate storm",
        8 => "soak",
        9 => "Redis Cluster master kill -9",
        10 => "Redis Cluster slot without master",
        11 => "Redis Cluster master returns mid-load (double failover)",
        _ => "unknown",
    }
}

/// What a scenario hands to the common checks.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tally: Tally,
    pub recoveries: Vec<Duration>,
    /// Entries written past ingest that must end in the dead-letter stream.
    pub poison: Vec<EntryId>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

/// Runs the selected scenarios; `Ok(true)` when every one passed.
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    let seed = cli.seed.unwrap_or_else(rand::random);
    let plan = Plan::new(&cli, seed);
    let run_id = format!("{:08x}", rand::random::<u32>());
    let work_dir = std::env::temp_dir().join(format!("clicks-chaos-{run_id}"));
    let bin_dir = cli.bin_dir()?;
    note(format!(
        "run {run_id}, profile {:?}, scenarios {:?}, seed {seed}; logs in {}",
        cli.profile,
        plan.scenarios,
        work_dir.display()
    ));
    let settings = ChildSettings {
        bin_dir,
        work_dir: work_dir.clone(),
        log: cli.child_log.clone(),
        worker_batch_size: plan.worker_batch_size,
        claim_idle_secs: plan.claim_idle_secs,
    };
    let started = Instant::now();
    let mut cluster = Cluster::start(run_id, settings).await?;
    note(format!(
        "private Redis at {}, MariaDB at {} ({:.1} s)",
        cluster.redis.url(),
        cluster.mariadb.url(),
        started.elapsed().as_secs_f64()
    ));
    let mut rows = Vec::new();
    for &number in &plan.scenarios {
        note(format!("scenario {number}: {}", title(number)));
        let began = Instant::now();
        let row = match run_one(&mut cluster, &plan, number).await {
            Ok(row) => row,
            Err(error) => Row {
                number,
                title: title(number).to_owned(),
                failures: vec![format!("{error:#}")],
                ..Row::default()
            },
        };
        note(format!(
            "scenario {number}: {} in {:.1} s",
            if row.passed() { "passed" } else { "FAILED" },
            began.elapsed().as_secs_f64()
        ));
        for failure in &row.failures {
            note(format!("scenario {number}: {failure}"));
        }
        rows.push(row);
    }
    print!("{}", report::render(&rows));
    let passed = rows.iter().all(Row::passed);
    if passed && !cli.keep_logs {
        remove_dir(&work_dir);
    } else {
        cluster.keep_server_logs();
        note(format!("logs kept in {}", work_dir.display()));
    }
    note(format!(
        "{} in {:.0} s",
        if passed { "all passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    ));
    Ok(passed)
}

async fn run_one(cluster: &mut Cluster, plan: &Plan, number: u8) -> anyhow::Result<Row> {
    let mut stage = cluster.stage(number).await?;
    if failover::on_redis_cluster(number) {
        let redis = StageCluster::start().await?;
        stage.use_redis_cluster(redis, plan.cluster_shards, plan.cluster_replicas_ack);
    }
    let queue = Queue::new(&stage.redis_url, &stage.layout())?;
    let mut scene = Scene {
        cluster,
        stage,
        queue,
        plan,
        rng: StdRng::seed_from_u64(plan.seed ^ u64::from(number)),
    };
    let outcome = match number {
        1 => worker_kills::run(&mut scene).await,
        2 => ingest_kills::run(&mut scene).await,
        3 => db_outage::run(&mut scene).await,
        4 => redis_outage::run(&mut scene).await,
        5 => flaky_network::run(&mut scene).await,
        6 => poison::run(&mut scene).await,
        7 => duplicate_storm::run(&mut scene).await,
        8 => soak::run(&mut scene).await,
        9 => cluster_master_kill::run(&mut scene).await,
        10 => cluster_masterless::run(&mut scene).await,
        11 => cluster_double_failover::run(&mut scene).await,
        _ => Err(anyhow::anyhow!("no scenario {number}")),
    };
    let result = match outcome {
        Ok(outcome) => scene.check(number, outcome).await,
        Err(error) => Err(error),
    };
    scene.stage.shutdown().await;
    result
}

/// One scenario's world.
pub struct Scene<'a> {
    pub cluster: &'a mut Cluster,
    pub stage: Stage,
    pub queue: Queue,
    pub plan: &'a Plan,
    pub rng: StdRng,
}

impl Scene<'_> {
    /// Workers first (they create the consumer group), then ingest.
    pub async fn start_system(&mut self, workers: usize) -> anyhow::Result<()> {
        self.stage.start_workers(workers).await?;
        self.stage.start_ingest().await
    }

    /// The background load: new clicks, singles and batches, some resent.
    pub fn traffic(&mut self) -> LoadPlan {
        let traffic = self.plan.traffic;
        LoadPlan {
            senders: traffic.senders,
            rate: traffic.rate,
            workload: Workload::Fresh {
                batch_share: traffic.batch_share,
                batch_max: traffic.batch_max,
                resend_share: traffic.resend_share,
            },
            request_timeout: self.plan.request_timeout,
            retry_grace: self.plan.retry_grace,
            keep_records: true,
            seed: self.rng.random(),
        }
    }

    pub fn start_load(&self, plan: LoadPlan) -> Load {
        Load::start(self.stage.identities(), self.stage.names.clone(), plan)
    }

    /// Waits `duration`, failing as soon as a child that should run has exited.
    pub async fn hold(&mut self, duration: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + duration;
        loop {
            self.stage.ensure_running()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            tokio::time::sleep(POLL.min(until - now)).await;
        }
    }

    /// A random pause between two faults.
    pub fn pause(&mut self) -> Duration {
        let (min, max) = self.plan.kill_pause;
        self.rng.random_range(min..=max)
    }

    /// How long the system took to get over a fault that ended at `lifted`:
    /// until a request sent after it was answered 2xx and every entry
    /// enqueued before it was acknowledged.
    pub async fn recovery(&mut self, load: &Load, lifted: Instant) -> anyhow::Result<Duration> {
        let deadline = lifted + self.plan.recovery_limit;
        let mut mark: Option<Mark> = None;
        let mut ingest_back: Option<Instant> = None;
        let mut settled: Option<Instant> = None;
        loop {
            self.stage.ensure_running()?;
            let now = Instant::now();
            if ingest_back.is_none() && load.last_accepted_sent().is_some_and(|at| at >= lifted) {
                ingest_back = Some(now);
            }
            if mark.is_none()
                && let Ok(newest) = self.queue.mark().await
            {
                mark = Some(newest);
            }
            if settled.is_none()
                && let Some(mark) = &mark
                && self.queue.settled_up_to(mark).await.unwrap_or(false)
            {
                settled = Some(now);
            }
            if let (Some(back), Some(settled)) = (ingest_back, settled) {
                return Ok(back.max(settled) - lifted);
            }
            if now >= deadline {
                bail!(
                    "no recovery within {:?} of the fault's end (ingest answering 2xx: {}, backlog settled: {})",
                    self.plan.recovery_limit,
                    ingest_back.is_some(),
                    settled.is_some()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn remove_dir(dir: &PathBuf) {
    if dir.exists()
        && let Err(error) = std::fs::remove_dir_all(dir)
    {
        note(format!("could not remove {}: {error}", dir.display()));
    }
}

/// Progress goes to stderr; stdout holds only the table.
pub fn note(message: String) {
    eprintln!("clicks-chaos: {message}");
}
