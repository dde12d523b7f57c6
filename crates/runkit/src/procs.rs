//! The child processes under test: start with an environment, wait for
//! `GET /api/health`, read RSS, stop with SIGTERM (SIGKILL if need be) or
//! kill outright (`kill -9`, as a crash would).
//!
//! Every child is spawned with `kill_on_drop`, so an early return or a panic
//! in the harness never leaves one behind. A child started again under the
//! same label appends to the same log, so one file tells its whole story.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::StatusCode;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::conn::{HEALTH_PATH, HttpConn, Target};

const HEALTH_POLL: Duration = Duration::from_millis(100);
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A free port on 127.0.0.1 (the kernel's pick; released again at once).
pub fn free_local_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port on 127.0.0.1")?;
    listener.local_addr().context("local address")
}

/// One running binary.
pub struct Service {
    pub label: String,
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

/// What stopping a service found.
#[derive(Debug, Clone)]
pub struct Stopped {
    pub label: String,
    pub peak_rss_mb: Option<f64>,
    /// Why the stop was not clean (status 0 within the grace period after SIGTERM).
    pub trouble: Option<String>,
}

impl Service {
    /// Starts `program` in `work_dir` (so no stray `.env` is read) with
    /// `env` added to the inherited environment; output is appended to
    /// `<label>.log`.
    pub fn start(
        label: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        addr: SocketAddr,
        work_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = work_dir.join(format!("{}.log", label.replace([' ', '/'], "_")));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("open {}", log.display()))?;
        let err = out.try_clone().context("log file handle")?;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(work_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        Ok(Self {
            label: label.to_owned(),
            addr,
            log,
            child,
        })
    }

    /// Waits until `GET /api/health` answers 200, the process exits, or `limit`.
    pub async fn wait_healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let target = Target::new(self.addr, "")?;
        loop {
            self.ensure_running()?;
            let last = match tokio::time::timeout(HEALTH_REQUEST_TIMEOUT, health(&target)).await {
                Ok(Ok(StatusCode::OK)) => return Ok(()),
                Ok(Ok(status)) => format!("status {status}"),
                Ok(Err(error)) => format!("{error:#}"),
                Err(_) => "health request timed out".to_owned(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} is not healthy on {} after {limit:?} ({last}); log {}:\n{}",
                    self.label,
                    self.addr,
                    self.log.display(),
                    log_tail(&self.log, 15)
                );
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }

    /// Fails when the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait().context("poll child")? {
            bail!(
                "{} exited ({status}); log {}:\n{}",
                self.label,
                self.log.display(),
                log_tail(&self.log, 15)
            );
        }
        Ok(())
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// VmHWM of the process (its peak RSS), in MB (10^6 bytes).
    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.proc_status_mb("VmHWM:")
    }

    /// VmRSS of the process (its RSS now), in MB (10^6 bytes).
    pub fn rss_mb(&self) -> Option<f64> {
        self.proc_status_mb("VmRSS:")
    }

    fn proc_status_mb(&self, field: &str) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024.0 / 1e6)
    }

    /// `kill -9`: no chance to finish anything, as in a crash. Waits until
    /// the process is gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("kill -9 {}", self.label))
    }

    /// SIGTERM, then wait; SIGKILL after the grace period.
    pub async fn stop(mut self) -> Stopped {
        let peak_rss_mb = self.peak_rss_mb();
        let trouble = match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("had already exited ({status})")),
            Ok(None) | Err(_) => self.terminate().await,
        };
        Stopped {
            label: self.label,
            peak_rss_mb,
            trouble,
        }
    }

    async fn terminate(&mut self) -> Option<String> {
        let signalled = self
            .child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .is_some_and(|pid| kill(Pid::from_raw(pid), Signal::SIGTERM).is_ok());
        if signalled {
            match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
                Ok(Ok(status)) if status.success() => return None,
                Ok(Ok(status)) => return Some(format!("exited with {status} on SIGTERM")),
                Ok(Err(_)) | Err(_) => {}
            }
        }
        let _ = self.child.kill().await;
        Some(format!(
            "killed: no clean exit within {STOP_GRACE:?} of SIGTERM"
        ))
    }
}

async fn health(target: &Target) -> anyhow::Result<StatusCode> {
    let mut conn = HttpConn::connect(target.addr).await?;
    let (status, _) = conn.send(target.get(HEALTH_PATH)?).await?;
    Ok(status)
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read the log: {error})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_is_stopped_with_sigterm_and_its_rss_read() {
        let dir = std::env::temp_dir().join(format!("runkit-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let addr = free_local_addr().expect("addr");
        let env = vec![("RUNKIT_TEST".to_owned(), "1".to_owned())];
        let mut service = Service::start(
            "sleeper",
            Path::new("/bin/sleep"),
            &["30"],
            &env,
            addr,
            &dir,
        )
        .expect("start");
        service.ensure_running().expect("running");
        let rss = service.peak_rss_mb();
        assert!(rss.is_some_and(|mb| mb > 0.0), "{rss:?}");
        let started = Instant::now();
        let stopped = service.stop().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        // `sleep` dies by SIGTERM: not a clean exit.
        assert!(stopped.trouble.is_some_and(|t| t.contains("SIGTERM")));
        assert!(stopped.peak_rss_mb.is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_dead_child_is_reported_with_its_log() {
        let dir = std::env::temp_dir().join(format!("runkit-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let addr = free_local_addr().expect("addr");
        let mut service =
            Service::start("falsy", Path::new("/bin/false"), &[], &[], addr, &dir).expect("start");
        let error = service
            .wait_healthy(Duration::from_secs(5))
            .await
            .expect_err("must fail");
        assert!(format!("{error:#}").contains("falsy exited"), "{error:#}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_killed_child_started_again_appends_to_its_log() {
        let dir = std::env::temp_dir().join(format!("runkit-test3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let addr = free_local_addr().expect("addr");
        let script = ["-c", "echo started; exec sleep 30"];
        let mut log = PathBuf::new();
        for round in 1..=2 {
            let mut service =
                Service::start("echoer", Path::new("/bin/sh"), &script, &[], addr, &dir)
                    .expect("start");
            log.clone_from(&service.log);
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("started")
                .count()
                < round
            {
                assert!(Instant::now() < deadline, "no output of round {round}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(service.rss_mb().is_some_and(|mb| mb > 0.0));
            service.ensure_running().expect("running");
            service.kill().await.expect("kill -9");
        }
        let text = std::fs::read_to_string(&log).expect("log");
        assert_eq!(text.matches("started").count(), 2, "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
