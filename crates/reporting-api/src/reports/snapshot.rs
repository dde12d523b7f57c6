//! Report body queries that each know which date versions they saw.
//!
//! A cache entry is only exact if its body was computed from the data its
//! key's versions describe. Reading the versions on one connection and the
//! body on others does not guarantee that: the read pool may be spread
//! over replicas at different lag (a proxy, a DNS name with several
//! servers), and even one server may commit between the reads. A stale
//! body would then be stored under a fresh key and served until the TTL.
//!
//! So every body query runs in a read-only transaction of its own with a
//! consistent snapshot (REPEATABLE READ), which first reads the versions of
//! the report's UTC dates: each query's rows come with the versions of the
//! very data they were read from. The body is cached only under the
//! versions all its queries saw; if they saw different ones (connections
//! on servers at different lag), it is answered and not cached.
//!
//! Why not one transaction on one connection for the whole report: the body
//! queries run in parallel on separate connections (rows and total, or a
//! summary's four or five), and running them one after the other would add
//! their latencies up. A snapshot per query keeps them parallel and adds two
//! round trips to each (the `BEGIN` with its isolation level in one text
//! round trip, then the versions); the transaction ends when the connection
//! goes back to the pool (sqlx sends the `ROLLBACK` of a dropped
//! transaction with the pool's release check, after the answer is on its
//! way), so no `COMMIT` waits in the request. Cache hits read the versions
//! once, outside any transaction, as before.

use std::sync::Mutex;

use chrono::NaiveDate;
use sea_orm::sqlx::mysql::{MySqlPool, MySqlRow};
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use super::sql::{self, Query};
use crate::error::ApiError;

/// Opens a snapshot in one round trip (a text query of two statements):
/// REPEATABLE READ even where the server's default is another level, as the
/// snapshot only holds across statements at that level; read-only, so
/// InnoDB assigns no transaction id.
const BEGIN_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                              START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

/// The version of each UTC date of a report that has one, in date order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateVersions(Vec<(NaiveDate, u64)>);

impl DateVersions {
    /// The versions as they are now, outside any snapshot (the cache lookup).
    pub async fn read(
        db: &DatabaseConnection,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Self, DbErr> {
        let rows = db
            .query_all_raw(sql::date_versions(first, last).statement())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<_, DbErr>>()
            .map(Self)
    }

    fn from_sqlx(rows: &[MySqlRow]) -> Result<Self, sqlx::Error> {
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map(Self)
    }

    /// Each date and its version, in date order.
    pub fn iter(&self) -> impl Iterator<Item = &(NaiveDate, u64)> {
        self.0.iter()
    }
}

/// Runs a report's body queries, each in a snapshot of its own, and
/// remembers the versions every snapshot saw.
pub struct Snapshots {
    pool: MySqlPool,
    first: NaiveDate,
    last: NaiveDate,
    seen: Mutex<Vec<DateVersions>>,
}

impl Snapshots {
    /// For a report over UTC dates `first..=last`, read from `db`.
    pub fn new(db: &DatabaseConnection, first: NaiveDate, last: NaiveDate) -> Self {
        Self {
            pool: db.get_mysql_connection_pool().clone(),
            first,
            last,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The first and last UTC date of the report.
    pub fn dates(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.last)
    }

    /// Every row of `query`.
    pub async fn all(&self, query: Query) -> Result<Vec<QueryResult>, ApiError> {
        let rows = self.read(&query).await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// The first row of `query`, if any.
    pub async fn one(&self, query: Query) -> Result<Option<QueryResult>, ApiError> {
        let rows = self.read(&query).await?;
        Ok(rows.into_iter().next().map(QueryResult::from))
    }

    /// The versions every query so far saw, if they all saw the same: the
    /// only versions the body they computed may be cached under.
    pub fn agreed_versions(&self) -> Option<DateVersions> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = seen.first()?;
        seen.iter()
            .all(|versions| versions == first)
            .then(|| first.clone())
    }

    async fn read(&self, query: &Query) -> Result<Vec<MySqlRow>, ApiError> {
        let mut snapshot = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(sqlx_error)?;
        let versions = sql::date_versions(self.first, self.last)
            .sqlx()
            .fetch_all(&mut *snapshot)
            .await
            .map_err(sqlx_error)?;
        let rows = query
            .sqlx()
            .fetch_all(&mut *snapshot)
            .await
            .map_err(sqlx_error)?;
        // Dropping `snapshot` ends it (see the module doc).
        let versions = DateVersions::from_sqlx(&versions).map_err(sqlx_error)?;
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(versions);
        Ok(rows)
    }
}

fn sqlx_error(error: sqlx::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error).context("report query in a snapshot"))
}
