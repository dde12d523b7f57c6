//! The MySQL side of the service: the entities, every statement the
//! worker, the reporting API and their tools run, and how to open a pool.
//!
//! - `entity`: the tables read or written through SeaORM's query builder
//!   (clicks, the deltas, the date versions, the export records); each is
//!   checked against its migrated table.
//! - `clicks`: storing a batch of clicks exactly once ([`clicks::store_batch`]).
//! - `aggregates`: the daily, hourly and per-dimension counts and the date
//!   versions: each stored batch leaves a delta, and folds add many deltas
//!   to them at once ([`aggregates::fold_pending`]).
//! - `errors`: which MySQL errors to retry and which refuse the data.
//! - `export`: the Finance export's record and lease of a date, and the
//!   date's clicks as chunks read them.
//! - `reports`: the reports' reads, in snapshots that carry the date versions.
//! - `retention`: what the retention job reads and deletes.
//! - `inspect`: counting, probing, seeding and emptying the tables, for
//!   the tests, the bench and the chaos suite.
//! - `raw_limit`: the bench's baseline insert, with nothing aggregated.
//! - `replication`: a replica's state, for health.

pub mod aggregates;
pub mod clicks;
pub mod entity;
pub mod errors;
pub mod export;
pub mod inspect;
pub mod raw_limit;
pub mod replication;
pub mod reports;
pub mod retention;
mod sql_text;
mod url;

pub use url::{ConnectError, DatabaseUrl, connect_url};

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Whether the server answers a query (`SELECT 1`): the health checks'
/// probe.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("SELECT 1").await.map(drop)
}

/// Opens a connection pool of at most `max_connections`.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
}
