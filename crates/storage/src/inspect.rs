//! What the tables hold, read (and emptied) for checks rather than by the
//! service: the tests, the bench and the chaos suite count, probe and walk
//! the stored clicks through these, never through SQL of their own.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use crate::entity::{click, report_date_version};

/// Every table the worker writes, in the order they are emptied.
const TABLES: [&str; 7] = [
    "clicks",
    "click_daily_stats",
    "click_hourly_stats",
    "click_daily_offer_stats",
    "click_daily_source_stats",
    "report_date_versions",
    "aggregate_deltas",
];

/// How many clicks are stored.
pub async fn clicks_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    click::Entity::find().count(db).await
}

/// The clicks the daily aggregate counts: cheap to poll (a row per date,
/// offer and source); it reaches the stored clicks once every delta is
/// folded.
pub async fn daily_total(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(counts(db, "0").await?.1)
}

/// The stored clicks and the clicks the daily aggregate counts, read in one
/// statement (so from one snapshot): equal once every delta is folded.
pub async fn clicks_and_daily_total(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    counts(db, "(SELECT COUNT(*) FROM clicks)").await
}

/// `(clicks, the daily aggregate's total)`, with `clicks` the SQL that
/// counts the clicks (`0` when the caller needs only the total).
async fn counts(db: &impl ConnectionTrait, clicks: &str) -> Result<(u64, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Counts {
        clicks: i64,
        counted: i64,
    }
    let counts = Counts::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        format!(
            "SELECT {clicks} AS clicks, \
             (SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM click_daily_stats) \
             AS counted"
        ),
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the counts of clicks".to_owned()))?;
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok((unsigned(counts.clicks), unsigned(counts.counted)))
}

/// The report version of UTC date `date` (`None` before its first fold).
pub async fn date_version(
    db: &impl ConnectionTrait,
    date: chrono::NaiveDate,
) -> Result<Option<u64>, DbErr> {
    Ok(report_date_version::Entity::find_by_id(date)
        .one(db)
        .await?
        .map(|row| row.version))
}

/// Which of `click_ids` are stored.
pub async fn stored_click_ids(
    db: &impl ConnectionTrait,
    click_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    if click_ids.is_empty() {
        return Ok(Vec::new());
    }
    click::Entity::find()
        .select_only()
        .column(click::Column::ClickId)
        .filter(click::Column::ClickId.is_in(click_ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await
}

/// Up to `limit` stored clicks' `(id, click_id)` with ids above `after`, in
/// id order: walking them all takes one call per page.
pub async fn click_ids_after(
    db: &impl ConnectionTrait,
    after: u64,
    limit: u64,
) -> Result<Vec<(u64, String)>, DbErr> {
    click::Entity::find()
        .select_only()
        .columns([click::Column::Id, click::Column::ClickId])
        .filter(click::Column::Id.gt(after))
        .order_by_asc(click::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Empties the clicks and every aggregate (only while no worker runs). A
/// table the database lacks (made by an older build's migrations) is
/// skipped.
pub async fn empty_all(db: &DatabaseConnection) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Table {
        name: String,
    }
    let present: Vec<String> = Table::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE()",
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|table| table.name)
    .collect();
    for table in TABLES {
        if present.iter().any(|name| name == table) {
            db.execute_unprepared(&format!("TRUNCATE TABLE {table}"))
                .await?;
        }
    }
    Ok(())
}

/// The server's pid file (`@@pid_file`), to find its process on this
/// machine.
pub async fn server_pid_file(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    #[derive(FromQueryResult)]
    struct PidFile {
        path: String,
    }
    PidFile::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        "SELECT @@pid_file AS path",
    ))
    .one(db)
    .await?
    .map(|file| file.path)
    .ok_or_else(|| DbErr::RecordNotFound("@@pid_file".to_owned()))
}

/// Refreshes the aggregate tables' index statistics, as after a bulk load.
pub async fn analyze_aggregates(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared(
        "ANALYZE TABLE click_daily_stats, click_hourly_stats, click_daily_offer_stats, \
         click_daily_source_stats",
    )
    .await
    .map(drop)
}

/// Stores `clicks` with nothing counted (no delta, no aggregate), `rows`
/// per statement: for seeding raw clicks that only the export reads (the
/// export bench). The service stores clicks through `clicks::store_batch`.
pub async fn load_uncounted_clicks(
    db: &DatabaseConnection,
    clicks: &[domain::Click],
    rows: usize,
) -> Result<(), DbErr> {
    crate::raw_limit::insert_ignore(db, "clicks", clicks, rows).await
}

/// Deletes every stored click of `date`, with nothing uncounted: for
/// clearing what `load_uncounted_clicks` seeded.
pub async fn delete_clicks_of(
    db: &impl ConnectionTrait,
    date: chrono::NaiveDate,
) -> Result<u64, DbErr> {
    click::Entity::delete_many()
        .filter(click::Column::ClickDate.eq(date))
        .exec(db)
        .await
        .map(|deleted| deleted.rows_affected)
}
