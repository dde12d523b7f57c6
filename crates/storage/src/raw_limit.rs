//! The bench's baseline: plain multi-row `INSERT IGNORE` of clicks into
//! `clicks_raw_limit`, a table of the shape of `clicks` (columns, keys,
//! collations) that nothing aggregates: the most the server can store.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// Makes `clicks_raw_limit` anew, empty.
pub async fn create(db: &DatabaseConnection) -> Result<(), DbErr> {
    drop_table(db).await?;
    db.execute_unprepared("CREATE TABLE clicks_raw_limit LIKE clicks")
        .await
        .map(drop)
}

/// Drops `clicks_raw_limit`, if there is one.
pub async fn drop_table(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("DROP TABLE IF EXISTS clicks_raw_limit")
        .await
        .map(drop)
}

/// `INSERT IGNORE`s `clicks` into `clicks_raw_limit`, `rows` per statement,
/// one statement after the other on one connection.
pub async fn insert(
    db: &DatabaseConnection,
    clicks: &[domain::Click],
    rows: usize,
) -> Result<(), DbErr> {
    insert_ignore(db, "clicks_raw_limit", clicks, rows).await
}

/// `INSERT IGNORE`s `clicks` into `table` (`clicks` or its shape), `rows`
/// per statement, with nothing counted.
pub(crate) async fn insert_ignore(
    db: &DatabaseConnection,
    table: &str,
    clicks: &[domain::Click],
    rows: usize,
) -> Result<(), DbErr> {
    let received_at = chrono::Utc::now().naive_utc();
    for part in clicks.chunks(rows.max(1)) {
        let values = part
            .iter()
            .flat_map(|click| crate::clicks::row_values(click, received_at, 0));
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            crate::clicks::insert_ignore_sql(table, part.len()),
            values,
        ))
        .await?;
    }
    Ok(())
}
