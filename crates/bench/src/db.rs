//! The bench's own MariaDB database `clicks_bench_<run>`: created, migrated
//! with the real `migrate` binary, queried for counts, dropped at the end.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement,
    Value,
};

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

    async fn scalar(&self, sql: &str) -> anyhow::Result<u64> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                DatabaseBackend::MySql,
                sql.to_owned(),
            ))
            .await
            .with_context(|| format!("query `{sql}`"))?
            .with_context(|| format!("no row from `{sql}`"))?;
        let value: Option<i64> = row
            .try_get_by_index(0)
            .with_context(|| format!("read `{sql}`"))?;
        Ok(value.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// `COUNT(*)` of `clicks`.
    pub async fn clicks_count(&self) -> anyhow::Result<u64> {
        self.scalar("SELECT COUNT(*) FROM clicks").await
    }

    /// `SUM(clicks_count)` of `click_daily_stats`: cheap to poll (a few
    /// thousand rows); it reaches the stored clicks once the workers have
    /// folded their counts into the aggregates.
    pub async fn stats_sum(&self) -> anyhow::Result<u64> {
        self.scalar("SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM click_daily_stats")
            .await
    }

    /// `(COUNT(*) of clicks, SUM(clicks_count))` read in one statement, so
    /// from one snapshot.
    pub async fn counts(&self) -> anyhow::Result<(u64, u64)> {
        let sql = "SELECT (SELECT COUNT(*) FROM clicks), \
                   (SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM click_daily_stats)";
        let row = self
            .conn
            .query_one_raw(Statement::from_string(DatabaseBackend::MySql, sql))
            .await
            .context("query counts")?
            .context("no row of counts")?;
        let count: Option<i64> = row.try_get_by_index(0).context("read COUNT")?;
        let sum: Option<i64> = row.try_get_by_index(1).context("read SUM")?;
        let as_u64 = |v: Option<i64>| v.map_or(0, |v| u64::try_from(v).unwrap_or(0));
        Ok((as_u64(count), as_u64(sum)))
    }

    /// Empties the clicks and every aggregate (only while no worker runs).
    /// A table the migrations of the binaries under test do not make (an
    /// older build's, through `--bin-dir`) is skipped.
    pub async fn truncate(&self) -> anyhow::Result<()> {
        for table in [
            "clicks",
            "click_daily_stats",
            "click_hourly_stats",
            "click_daily_offer_stats",
            "click_daily_source_stats",
            "report_date_versions",
            "aggregate_deltas",
        ] {
            let exists = self
                .scalar(&format!(
                    "SELECT COUNT(*) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
                ))
                .await?;
            if exists == 0 {
                continue;
            }
            self.conn
                .execute_unprepared(&format!("TRUNCATE TABLE {table}"))
                .await
                .with_context(|| format!("truncate {table}"))?;
        }
        Ok(())
    }

    /// Which of `click_ids` are stored (`SELECT click_id … WHERE click_id IN (…)`).
    pub async fn stored(&self, click_ids: &[String]) -> anyhow::Result<Vec<String>> {
        if click_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; click_ids.len()].join(",");
        let sql = format!("SELECT click_id FROM clicks WHERE click_id IN ({placeholders})");
        let values = click_ids.iter().map(|id| Value::from(id.clone()));
        let rows = self
            .conn
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                sql,
                values,
            ))
            .await
            .context("query probe clicks")?;
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0).context("read click_id"))
            .collect()
    }

    /// The server's process, found through `@@pid_file`; `None` when it
    /// cannot be read (another machine's server, no permission).
    pub async fn server_process(&self) -> Option<crate::scenarios::raw_limit::ServerProcess> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                DatabaseBackend::MySql,
                "SELECT @@pid_file",
            ))
            .await
            .ok()??;
        let path: String = row.try_get_by_index(0).ok()?;
        let pid = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        Some(crate::scenarios::raw_limit::ServerProcess { pid })
    }

    /// `clicks_raw_limit`: the shape of `clicks` (columns, keys, collations), empty.
    pub async fn create_raw_table(&self) -> anyhow::Result<()> {
        self.drop_raw_table().await?;
        self.conn
            .execute_unprepared("CREATE TABLE clicks_raw_limit LIKE clicks")
            .await
            .context("create clicks_raw_limit")?;
        Ok(())
    }

    pub async fn drop_raw_table(&self) -> anyhow::Result<()> {
        self.conn
            .execute_unprepared("DROP TABLE IF EXISTS clicks_raw_limit")
            .await
            .context("drop clicks_raw_limit")?;
        Ok(())
    }

    /// `INSERT IGNORE`s `clicks` into `clicks_raw_limit`, `rows` per
    /// statement, one statement after the other on one connection.
    pub async fn insert_raw(&self, clicks: &[domain::Click], rows: usize) -> anyhow::Result<()> {
        let received_at = chrono::Utc::now().naive_utc();
        for part in clicks.chunks(rows) {
            let sql = format!(
                "INSERT IGNORE INTO clicks_raw_limit (click_id, offer_id, source, clicked_at, \
                 click_date, signature, received_at, batch_token) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, 0)"; part.len()].join(",")
            );
            let values = part.iter().flat_map(|click| {
                [
                    Value::from(click.click_id.clone()),
                    Value::from(click.offer_id.get()),
                    Value::from(click.source.clone()),
                    Value::from(click.timestamp.naive_utc()),
                    Value::from(click.date()),
                    Value::from(click.signature.clone()),
                    Value::from(received_at),
                ]
            });
            self.conn
                .execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::MySql,
                    sql,
                    values,
                ))
                .await
                .context("insert into clicks_raw_limit")?;
        }
        Ok(())
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
