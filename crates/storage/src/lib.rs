//! The MySQL side of the service: the entities both the worker and the
//! reporting API read or write, every statement the worker runs, and how to
//! open a pool.
//!
//! - `entity`: the tables, as SeaORM entities.
//! - `clicks`: storing a batch of clicks exactly once ([`clicks::store_batch`]).
//! - `aggregates`: the daily, hourly and per-dimension counts and the date
//!   versions: each stored batch leaves a delta, and folds add many deltas
//!   to them at once ([`aggregates::fold_pending`]).
//! - `errors`: which MySQL errors to retry and which refuse the data.
//! - `export`: the Finance export's record and lease of a date, and the
//!   date's clicks as chunks read them.
//! - `retention`: what the retention job reads and deletes.
//! - `replication`: a replica's state, for health.

pub mod aggregates;
pub mod clicks;
pub mod entity;
pub mod errors;
pub mod export;
pub mod replication;
pub mod reports;
pub mod retention;
mod sql_text;
mod url;

pub use url::{ConnectError, DatabaseUrl, connect_url};

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

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
