//! A server process owned by a test: spawned with its output in a log file,
//! stopped with SIGTERM or SIGKILL, always reaped.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often a starting or stopping server is looked at.
const POLL: Duration = Duration::from_millis(20);

/// A port of 127.0.0.1 nothing listens on right now (the kernel's pick).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Whether nothing listens on, or is bound to, `port` of 127.0.0.1 right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The first of `candidates` found in `PATH` or given as an existing path.
pub fn find_program(candidates: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for candidate in candidates {
        let candidate = Path::new(candidate);
        if candidate.is_absolute() {
            if candidate.is_file() {
                return candidate.to_owned();
            }
            continue;
        }
        if let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join(candidate))
            .find(|full| full.is_file())
        {
            return found;
        }
    }
    panic!("none of {candidates:?} is installed (looked in PATH)");
}

/// The last lines of a log, for failure messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `program`; stdout and stderr are appended to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Self {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", log.display()));
        let err = out.try_clone().expect("log file handle");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// Polls `ready` until it succeeds; panics with the log's tail if the
    /// process exits or `limit` passes first.
    pub async fn wait_until_ready<F, Fut>(&mut self, limit: Duration, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited while starting ({status}); {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            let last = match ready().await {
                Ok(()) => return,
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                panic!(
                    "{} not ready after {limit:?} ({last}); {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, then waits for the exit; SIGKILL after `grace`.
    pub async fn terminate(mut self, grace: Duration) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        if kill(Pid::from_raw(pid), Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
            eprintln!("{} ignored SIGTERM for {grace:?}; killing it", self.name);
        }
        // Drop kills and reaps.
    }

    /// SIGKILL and reap.
    pub fn kill(self) {
        // Drop kills and reaps.
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            // Returns at once: the kernel ends a SIGKILLed process.
            let _ = self.child.wait();
        }
    }
}
