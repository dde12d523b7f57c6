//! The bench's own MariaDB database `clicks_bench_<run>`: created, migrated
//! with the real `migrate` binary, queried for counts, dropped at the end.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::conn::ensure_loopback_url;

const MIGRATE_TIMEOUT: Duration = Duration::from_secs(120);

pub struct BenchDb {
    pub name: String,
    /// `DATABASE_URL` for the worker and `migrate`.
    pub url: String,
    conn: DatabaseConnection,
    server: DatabaseConnection,
}

async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("connect to {}", redact(url)))
}

/// `mysql://user:secret@host` → `mysql://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl BenchDb {
    /// Creates `clicks_bench_<run_id>` on the server (no database in the URL).
    pub async fn create(server_url: &str, run_id: &str) -> anyhow::Result<Self> {
        ensure_loopback_url(server_url)?;
        let server_url = server_url.trim_end_matches('/');
        let server = connect(server_url, 1).await?;
        let name = format!("clicks_bench_{run_id}");
        server
            .execute_unprepared(&format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))
            .await
            .with_context(|| format!("create database {name}"))?;
        let url = format!("{server_url}/{name}");
        let conn = match connect(&url, 4).await {
            Ok(conn) => conn,
            Err(error) => {
                let _ = server
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
                return Err(error);
            }
        };
        Ok(Self {
            name,
            url,
            conn,
            server,
        })
    }

    /// `migrate up` with `DATABASE_URL` set to this database.
    pub async fn migrate(&self, migrate_bin: &Path) -> anyhow::Result<()> {
        let run = tokio::process::Command::new(migrate_bin)
            .arg("up")
            .env("DATABASE_URL", &self.url)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(MIGRATE_TIMEOUT, run)
            .await
            .with_context(|| format!("{} up took over {MIGRATE_TIMEOUT:?}", migrate_bin.display()))?
            .with_context(|| format!("run {}", migrate_bin.display()))?;
        if !output.status.success() {
            bail!(
                "{} up failed ({}):\n{}{}",
                migrate_bin.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// `COUNT(*)` of `clicks`.
    pub async fn clicks_count(&self) -> anyhow::Result<u64> {
        storage::inspect::clicks_count(&self.conn)
            .await
            .context("count the clicks")
    }

    /// The clicks the workers' folds have counted: cheap to poll (a row per
    /// date and source); it reaches the stored clicks once every count is
    /// folded.
    pub async fn counted_total(&self) -> anyhow::Result<u64> {
        storage::inspect::counted_total(&self.conn)
            .await
            .context("sum the per-source aggregate")
    }

    /// `(COUNT(*) of clicks, SUM(clicks_count))` read in one statement, so
    /// from one snapshot.
    pub async fn counts(&self) -> anyhow::Result<(u64, u64)> {
        storage::inspect::clicks_and_daily_total(&self.conn)
            .await
            .context("count the clicks and the daily aggregate")
    }

    /// Empties the clicks and every aggregate (only while no worker runs).
    /// A table the migrations of the binaries under test do not make (an
    /// older build's, through `--bin-dir`) is skipped.
    pub async fn truncate(&self) -> anyhow::Result<()> {
        storage::inspect::empty_all(&self.conn)
            .await
            .context("empty the tables")
    }

    /// Which of `click_ids` are stored.
    pub async fn stored(&self, click_ids: &[String]) -> anyhow::Result<Vec<String>> {
        storage::inspect::stored_click_ids(&self.conn, click_ids)
            .await
            .context("query probe clicks")
    }

    /// The server's process, found through `@@pid_file`; `None` when it
    /// cannot be read (another machine's server, no permission).
    pub async fn server_process(&self) -> Option<crate::cpu::Process> {
        let path = storage::inspect::server_pid_file(&self.conn).await.ok()?;
        let pid = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        Some(crate::cpu::Process { pid })
    }

    /// `clicks_raw_limit`: the shape of `clicks`, empty.
    pub async fn create_raw_table(&self) -> anyhow::Result<()> {
        storage::raw_limit::create(&self.conn)
            .await
            .context("create clicks_raw_limit")
    }

    pub async fn drop_raw_table(&self) -> anyhow::Result<()> {
        storage::raw_limit::drop_table(&self.conn)
            .await
            .context("drop clicks_raw_limit")
    }

    /// `INSERT IGNORE`s `clicks` into `clicks_raw_limit`, `rows` per
    /// statement, one statement after the other on one connection.
    pub async fn insert_raw(&self, clicks: &[domain::Click], rows: usize) -> anyhow::Result<()> {
        storage::raw_limit::insert(&self.conn, clicks, rows)
            .await
            .context("insert into clicks_raw_limit")
    }

    /// Drops the database.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let _ = self.conn.close().await;
        self.server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .await
            .with_context(|| format!("drop database {}", self.name))?;
        let _ = self.server.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("mysql://root@127.0.0.1:3306"),
            "mysql://root@127.0.0.1:3306"
        );
        assert_eq!(
            redact("mysql://u:pw@127.0.0.1/db"),
            "mysql://u:***@127.0.0.1/db"
        );
    }
}
