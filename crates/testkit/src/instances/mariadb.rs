//! A private `mariadbd`.
//!
//! `mariadb-install-db` takes seconds, so one freshly initialised data
//! directory is kept per machine as a template, in the temporary directory
//! under a name derived from the server's version and the options, and each
//! instance starts from a copy of it. Root logs in over TCP without a
//! password, like on the shared test server.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::ConnectionTrait;
use tempfile::TempDir;

use super::process::{ServerProcess, find_program, free_port, log_tail};
use super::tls::TlsFiles;
use crate::TestDb;

/// How long the server may take to accept connections (crash recovery included).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Server options given both to `mariadb-install-db` and to every start:
/// small and quick, like a CI server, and the shared server's character set.
const SERVER_OPTIONS: &[&str] = &[
    "--skip-log-bin",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--skip-name-resolve",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
];
/// Written last into a template: its presence means the template is complete.
const TEMPLATE_DONE: &str = "clicks-testkit-template-done";

/// A `mariadbd` of its own on a free port of 127.0.0.1; killed on drop.
pub struct MariaDbInstance {
    port: u16,
    process: Option<ServerProcess>,
    dir: TempDir,
    /// Server options of this instance besides [`SERVER_OPTIONS`].
    extra: Vec<String>,
    tls: Option<TlsFiles>,
}

impl MariaDbInstance {
    /// Starts a server with an empty data directory and waits until it runs queries.
    pub async fn start() -> Self {
        Self::start_with(false, |_| Vec::new()).await
    }

    /// Like [`start`](Self::start), the server also speaking TLS with a
    /// certificate for 127.0.0.1 and localhost from a CA of its own
    /// ([`tls_files`](Self::tls_files)); root still logs in without it.
    pub async fn start_tls() -> Self {
        Self::start_with(true, |_| Vec::new()).await
    }

    /// The CA and certificates of a [`start_tls`](Self::start_tls) server.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Starts a server; `options` gives the server options of this instance
    /// besides [`SERVER_OPTIONS`] (and TLS's), from its directory.
    pub(super) async fn start_with(tls: bool, options: impl FnOnce(&Path) -> Vec<String>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("clicks-test-mariadb-")
            .tempdir()
            .expect("a temporary directory for MariaDB");
        let template = tokio::task::spawn_blocking(template)
            .await
            .expect("template task");
        let data = dir.path().join("data");
        tokio::task::spawn_blocking(move || copy_dir(&template, &data))
            .await
            .expect("copy task")
            .expect("copy the MariaDB template data directory");
        let tls = tls.then(|| TlsFiles::generate(dir.path()));
        let mut extra: Vec<String> = tls
            .iter()
            .flat_map(|files| {
                [
                    format!("--ssl-ca={}", files.ca_cert.display()),
                    format!("--ssl-cert={}", files.server_cert.display()),
                    format!("--ssl-key={}", files.server_key.display()),
                ]
            })
            .collect();
        extra.extend(options(dir.path()));
        let mut instance = Self {
            port: free_port(),
            process: None,
            dir,
            extra,
            tls,
        };
        instance.launch().await;
        instance
    }

    /// `mysql://root@127.0.0.1:<port>`: the server, no database part.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the server keeps its data directory, socket, pid file and log (`mariadbd.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// A fresh database on this server with every migration applied. Need not
    /// be dropped: the whole server goes with the instance.
    pub async fn create_db(&self) -> TestDb {
        TestDb::create_on(&self.url()).await
    }

    /// Runs `sql` (one statement, no result) as root.
    pub async fn execute(&self, sql: &str) {
        let conn = storage::connect(&self.url(), 1)
            .await
            .unwrap_or_else(|error| panic!("connect to {}: {error}", self.url()));
        conn.execute_unprepared(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        conn.close().await.ok();
    }

    /// Graceful shutdown (SIGTERM): InnoDB flushes and the server exits.
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.terminate(STOP_GRACE).await;
        }
    }

    /// SIGKILL: the next start recovers committed transactions from the redo log.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port with the same data directory
    /// (stopping it gracefully first if it runs).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    async fn launch(&mut self) {
        let dir = self.dir.path();
        let mut args = vec![
            // Must come first: no /etc/mysql option files.
            "--no-defaults".to_owned(),
            format!("--datadir={}", dir.join("data").display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--socket={}", dir.join("mariadbd.sock").display()),
            format!("--pid-file={}", dir.join("mariadbd.pid").display()),
            format!("--log-error={}", dir.join("mariadbd.log").display()),
            format!("--tmpdir={}", std::env::temp_dir().display()),
            "--user=root".to_owned(),
        ];
        args.extend(SERVER_OPTIONS.iter().map(|option| (*option).to_owned()));
        args.extend(self.extra.iter().cloned());
        let program = find_program(&["mariadbd", "/usr/sbin/mariadbd", "/usr/sbin/mysqld"]);
        let mut process =
            ServerProcess::spawn("mariadbd", &program, &args, &dir.join("mariadbd.log"));
        let url = self.url();
        process
            .wait_until_ready(START_LIMIT, || async {
                let conn = storage::connect(&url, 1)
                    .await
                    .map_err(|error| error.to_string())?;
                let answered = conn.execute_unprepared("SELECT 1").await.map(drop);
                conn.close().await.ok();
                answered.map_err(|error| error.to_string())
            })
            .await;
        self.process = Some(process);
    }
}

/// The template data directory, created once per machine (and looked up
/// once per process). Concurrent test processes may each build one; the
/// first rename wins and the others discard theirs.
fn template() -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(build_template).clone()
}

fn build_template() -> PathBuf {
    let server = find_program(&["mariadbd", "/usr/sbin/mariadbd", "/usr/sbin/mysqld"]);
    let version = Command::new(&server)
        .arg("--version")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {} --version: {error}", server.display()));
    let mut hasher = DefaultHasher::new();
    version.stdout.hash(&mut hasher);
    SERVER_OPTIONS.hash(&mut hasher);
    let template = std::env::temp_dir().join(format!(
        "clicks-testkit-mariadb-template-{:016x}",
        hasher.finish()
    ));
    if template.join(TEMPLATE_DONE).exists() {
        return template;
    }
    let building = std::env::temp_dir().join(format!(
        "clicks-testkit-mariadb-template-building-{}",
        crate::unique_suffix()
    ));
    std::fs::create_dir_all(&building).expect("create the template directory");
    let install = find_program(&["mariadb-install-db", "mysql_install_db"]);
    let log = building.join("install.log");
    let output = Command::new(&install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", building.join("data").display()))
        .arg("--user=root")
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .args(SERVER_OPTIONS)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", install.display()));
    std::fs::write(&log, [output.stdout, output.stderr].concat()).ok();
    if !output.status.success() {
        panic!(
            "{} failed ({}):\n{}",
            install.display(),
            output.status,
            log_tail(&log)
        );
    }
    let data = building.join("data");
    std::fs::write(data.join(TEMPLATE_DONE), b"").expect("mark the template complete");
    if std::fs::rename(&data, &template).is_err() {
        // Another process finished first; its template is as good as ours.
        assert!(
            template.join(TEMPLATE_DONE).exists(),
            "cannot move the template data directory to {}",
            template.display()
        );
    }
    std::fs::remove_dir_all(&building).ok();
    template
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
