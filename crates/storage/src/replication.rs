//! What a server says about its own replication, for health: whether it
//! replicates and how far behind its source it is.
//!
//! `SHOW REPLICA STATUS` is what MariaDB 10.5.1+ and MySQL 8.0.22+ both
//! accept; older MySQL 8.0 knows only `SHOW SLAVE STATUS`, tried when the
//! first is a syntax error. Column names differ: MariaDB keeps
//! `Slave_IO_Running`, `Slave_SQL_Running` and `Seconds_Behind_Master`
//! under either statement, MySQL 8.0.22+ names them `Replica_IO_Running`,
//! `Replica_SQL_Running` and `Seconds_Behind_Source`. Both need a privilege
//! a reporting user may well lack (MariaDB: `REPLICA MONITOR`, alias
//! `SLAVE MONITOR`; MySQL: `REPLICATION CLIENT`); the error is returned.
//! Text protocol (`raw_sql`): neither server promises these statements as
//! prepared statements.

use sea_orm::DatabaseConnection;
use sea_orm::sqlx::mysql::MySqlRow;
use sea_orm::sqlx::{self, Row};

/// MySQL's code for a syntax error (`ER_PARSE_ERROR`).
const PARSE_ERROR: &str = "42000";

/// A replica's state as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Both the receiving (I/O) and the applying (SQL) threads run.
    pub replicating: bool,
    /// `Seconds_Behind_Master` / `Seconds_Behind_Source`: `None` while a
    /// thread is stopped or the server does not know.
    pub lag_seconds: Option<u64>,
}

/// The replication status of the server behind `db`: `None` when it is not
/// a replica; an error when it cannot be read (e.g. no privilege).
pub async fn replica_status(db: &DatabaseConnection) -> Result<Option<ReplicaStatus>, sqlx::Error> {
    let pool = db.get_mysql_connection_pool();
    let row = match sqlx::raw_sql("SHOW REPLICA STATUS")
        .fetch_optional(pool)
        .await
    {
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(PARSE_ERROR) => {
            sqlx::raw_sql("SHOW SLAVE STATUS")
                .fetch_optional(pool)
                .await?
        }
        other => other?,
    };
    Ok(row.as_ref().map(status_of))
}

fn status_of(row: &MySqlRow) -> ReplicaStatus {
    let running = |names: &[&str]| column(row, names).as_deref() == Some("Yes");
    ReplicaStatus {
        replicating: running(&["Slave_IO_Running", "Replica_IO_Running"])
            && running(&["Slave_SQL_Running", "Replica_SQL_Running"]),
        lag_seconds: column(row, &["Seconds_Behind_Master", "Seconds_Behind_Source"])
            .and_then(|seconds| seconds.parse().ok()),
    }
}

/// The text of the first of `names` the row has (the text protocol sends
/// every value as text), `None` when absent or NULL.
fn column(row: &MySqlRow, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| row.try_get_unchecked::<Option<String>, _>(*name).ok())
        .flatten()
}
