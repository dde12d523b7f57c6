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
//! their latencies up. A snapshot per query keeps them parallel, and costs
//! each one round trip before its query: opening the snapshot and reading
//! the versions go together in one text query. The snapshot is ended by a
//! `ROLLBACK` sent in the background once the rows are in, so nothing waits
//! for it. Cache hits read the versions once, outside any transaction, as
//! before: a hit costs what it did.
//!
//! sqlx's own transactions cannot return rows from their `BEGIN`, so the
//! snapshot is a transaction sqlx does not know about; [`Snapshot`] makes
//! sure a connection goes back to the pool only after its `ROLLBACK`, and is
//! closed instead when that cannot be (an error, a cancelled request).

use std::sync::Mutex;

use chrono::NaiveDate;
use sea_orm::sqlx::mysql::{MySqlPool, MySqlRow};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, MySql, Row};
use sea_orm::{DatabaseConnection, DbErr, QueryResult, RuntimeErr};

use super::sql::{self, Query};

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
        let rows = sql::date_versions(first, last)
            .sqlx()
            .fetch_all(db.get_mysql_connection_pool())
            .await
            .map_err(sqlx_error)?;
        Self::from_sqlx(&rows).map_err(sqlx_error)
    }

    fn from_sqlx(rows: &[MySqlRow]) -> Result<Self, sqlx::Error> {
        rows.iter()
            .map(|row| Ok((row.try_get("click_date")?, row.try_get("version")?)))
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
    pub(super) async fn all(&self, query: Query) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self.read(&query).await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// The first row of `query`, if any.
    pub(super) async fn one(&self, query: Query) -> Result<Option<QueryResult>, DbErr> {
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

    async fn read(&self, query: &Query) -> Result<Vec<MySqlRow>, DbErr> {
        let (mut snapshot, versions) = Snapshot::open(&self.pool, self.first, self.last)
            .await
            .map_err(sqlx_error)?;
        let rows = query
            .sqlx()
            .fetch_all(snapshot.connection())
            .await
            .map_err(sqlx_error)?;
        snapshot.end();
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(versions);
        Ok(rows)
    }
}

/// A pooled connection inside a read-only snapshot. [`end`](Self::end)
/// rolls it back in the background and then returns the connection to the
/// pool; dropped in any other way, the connection is closed, so an open
/// snapshot never reaches another request.
struct Snapshot {
    connection: PoolConnection<MySql>,
    rolled_back: bool,
}

impl Snapshot {
    /// Opens a snapshot and reads the versions of `first..=last` in it.
    async fn open(
        pool: &MySqlPool,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<(Self, DateVersions), sqlx::Error> {
        let mut snapshot = Self {
            connection: pool.acquire().await?,
            rolled_back: false,
        };
        let begin = sql::snapshot_with_date_versions(first, last);
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(begin))
            .fetch_all(snapshot.connection())
            .await?;
        let versions = DateVersions::from_sqlx(&rows)?;
        Ok((snapshot, versions))
    }

    fn connection(&mut self) -> &mut sqlx::MySqlConnection {
        &mut self.connection
    }

    /// Ends the snapshot without waiting: a task sends the `ROLLBACK`, and
    /// the connection goes back to the pool only once it succeeded.
    fn end(mut self) {
        tokio::spawn(async move {
            if sqlx::raw_sql(sql::END_SNAPSHOT)
                .execute(self.connection())
                .await
                .is_ok()
            {
                self.keep_connection();
            }
        });
    }

    /// Lets the connection go back to the pool when dropped (it is out of
    /// its snapshot).
    fn keep_connection(&mut self) {
        self.rolled_back = true;
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if !self.rolled_back {
            self.connection.close_on_drop();
        }
    }
}

pub(super) fn sqlx_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}
