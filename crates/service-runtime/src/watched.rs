//! A file the binaries follow while they run (the keys file): read at start,
//! where a problem stops the binary; then read again whenever its content
//! changes (checked every `every`) or the process gets `SIGHUP`. A new
//! version that does not parse is logged and counted, and the last good one
//! stays in force. Readers never wait: the current value is swapped
//! atomically (`arc-swap`), so a reload drops no request.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metric;

/// Reloads of a watched file, by result: `ok` (in force) or `error` (the
/// last good version stays).
pub const FILE_RELOADS_TOTAL: &str = "file_reloads_total";

pub const METRICS: &[Metric] = &[Metric::counter(
    FILE_RELOADS_TOTAL,
    "Reloads of a watched file (the keys file), by result: ok (in force) or error (the last good version stays).",
)
.by("result", &["ok", "error"])];

/// How a file's text becomes the value in force.
pub type Build<T> = Arc<dyn Fn(&str) -> Result<T, String> + Send + Sync>;

/// The value built from a file, kept current.
pub struct Watched<T> {
    current: Arc<ArcSwap<T>>,
    path: PathBuf,
    variable: &'static str,
    build: Build<T>,
    seen: std::sync::Mutex<Vec<u8>>,
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Reads and builds the file now; the error names `variable` and the
    /// problem in one line (never the file's content).
    pub fn load(path: PathBuf, variable: &'static str, build: Build<T>) -> Result<Self, String> {
        let text = std::fs::read(&path)
            .map_err(|error| format!("{variable}={}: cannot read it: {error}", path.display()))?;
        let value = build_from(&build, &text)
            .map_err(|error| format!("{variable}={}: {error}", path.display()))?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(value)),
            path,
            variable,
            build,
            seen: std::sync::Mutex::new(text),
        })
    }

    /// The value in force.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Reads the file again if its content changed; `true` when a new
    /// version came into force.
    pub fn reload(&self) -> bool {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(
                    variable = self.variable,
                    path = %self.path.display(),
                    %error,
                    "cannot read the file again; the last good version stays in force"
                );
                metrics::counter!(FILE_RELOADS_TOTAL, "result" => "error").increment(1);
                return false;
            }
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *seen == text {
            return false;
        }
        *seen = text;
        match build_from(&self.build, &seen) {
            Ok(value) => {
                self.current.store(Arc::new(value));
                tracing::info!(variable = self.variable, path = %self.path.display(), "reloaded");
                metrics::counter!(FILE_RELOADS_TOTAL, "result" => "ok").increment(1);
                true
            }
            Err(error) => {
                tracing::error!(
                    variable = self.variable,
                    path = %self.path.display(),
                    %error,
                    "the new version is not valid; the last good version stays in force"
                );
                metrics::counter!(FILE_RELOADS_TOTAL, "result" => "error").increment(1);
                false
            }
        }
    }

    /// Follows the file until `shutdown`: every `every`, and on `SIGHUP`.
    pub fn follow(self: &Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let watched = Arc::clone(self);
        tokio::spawn(async move {
            let mut hangups =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let hangup = async {
                    match hangups.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                    _ = hangup => tracing::info!(variable = watched.variable, "SIGHUP: reading the file again"),
                }
                let reloading = Arc::clone(&watched);
                // File reads and parsing stay off the async workers.
                let _ = tokio::task::spawn_blocking(move || reloading.reload()).await;
            }
        });
    }
}

/// A value fixed for the life of the process, or followed in a file.
pub enum Source<T> {
    Fixed(Arc<T>),
    Followed(Arc<Watched<T>>),
}

impl<T: std::fmt::Debug> std::fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(value) => write!(f, "Fixed({value:?})"),
            Self::Followed(watched) => write!(f, "Followed({:?})", watched.current.load()),
        }
    }
}

impl<T: Send + Sync + 'static> Source<T> {
    /// The value in force now.
    pub fn current(&self) -> Arc<T> {
        match self {
            Self::Fixed(value) => Arc::clone(value),
            Self::Followed(watched) => watched.current(),
        }
    }

    /// Follows the file, if there is one, checking it every `every`, until
    /// `shutdown`.
    pub fn follow(&self, every: Duration, shutdown: CancellationToken) {
        if let Self::Followed(watched) = self {
            watched.follow(every, shutdown);
        }
    }
}

fn build_from<T>(build: &Build<T>, text: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(text).map_err(|_| "is not UTF-8".to_owned())?;
    build(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers() -> Build<u64> {
        Arc::new(|text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| "not a number".to_owned())
        })
    }

    #[test]
    fn a_bad_version_keeps_the_last_good_one() {
        let dir = std::env::temp_dir().join(format!("watched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("n.txt");
        std::fs::write(&path, "1").expect("write");
        let watched = Watched::load(path.clone(), "N_FILE", numbers()).expect("load");
        assert_eq!(*watched.current(), 1);
        assert!(!watched.reload(), "unchanged");
        std::fs::write(&path, "2").expect("write");
        assert!(watched.reload());
        assert_eq!(*watched.current(), 2);
        std::fs::write(&path, "two").expect("write");
        assert!(!watched.reload());
        assert_eq!(*watched.current(), 2);
        std::fs::write(&path, "3").expect("write");
        assert!(watched.reload());
        assert_eq!(*watched.current(), 3);
        std::fs::write(&path, "x").expect("write");
        let error = Watched::load(path.clone(), "N_FILE", numbers())
            .err()
            .expect("refused");
        assert!(
            error.starts_with("N_FILE=") && error.ends_with("not a number"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
