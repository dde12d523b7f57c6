//! The stored clicks, read and seeded for checks.

use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::{count, unsigned};
use crate::entity::click;

/// How many clicks are stored.
pub async fn clicks_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    click::Entity::find().count(db).await
}

/// How many stored rows have exactly `click_id` (the unique key allows one;
/// an id that differs in any character is another click).
pub async fn clicks_with_id(db: &impl ConnectionTrait, click_id: &str) -> Result<u64, DbErr> {
    click::Entity::find()
        .filter(click::Column::ClickId.eq(click_id))
        .count(db)
        .await
}

/// How many different `click_id`s are stored.
pub async fn distinct_click_ids(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    count(db, "SELECT COUNT(DISTINCT click_id) AS n FROM clicks", []).await
}

/// The stored click with `click_id`, every column as stored (`None` when
/// there is none).
pub async fn stored_click(
    db: &impl ConnectionTrait,
    click_id: &str,
) -> Result<Option<click::Model>, DbErr> {
    click::Entity::find()
        .filter(click::Column::ClickId.eq(click_id))
        .one(db)
        .await
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

/// The worker transactions (`batch_token`s) behind the stored clicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchTokens {
    /// Different tokens: transactions that inserted clicks.
    pub tokens: u64,
    /// The most clicks one token carries (0 with no clicks).
    pub largest: u64,
}

/// How many transactions inserted the stored clicks, and the most clicks
/// one of them inserted, read in one statement.
pub async fn batch_tokens(db: &impl ConnectionTrait) -> Result<BatchTokens, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        tokens: i64,
        largest: Option<i64>,
    }
    let row = Row::find_by_statement(Statement::from_string(
        DbBackend::MySql,
        "SELECT (SELECT COUNT(DISTINCT batch_token) FROM clicks) AS tokens, \
         (SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM clicks GROUP BY batch_token) g) \
         AS largest",
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the batch tokens of clicks".to_owned()))?;
    Ok(BatchTokens {
        tokens: unsigned(row.tokens),
        largest: row.largest.map_or(0, unsigned),
    })
}

/// Stores `clicks` with nothing counted (no delta, no aggregate), `rows`
/// per statement: for seeding raw clicks that only the export reads (the
/// export bench and tests). The service stores clicks through
/// `clicks::store_batch`.
pub async fn load_uncounted_clicks(
    db: &DatabaseConnection,
    clicks: &[domain::Click],
    rows: usize,
) -> Result<(), DbErr> {
    crate::raw_limit::insert_ignore(db, "clicks", clicks, rows).await
}

/// Stores each `(id, click)` under that primary key `id`, with nothing
/// counted, in one statement that fails should an id or `click_id` be
/// stored already: for tests that need clicks in a chosen id order (the
/// export walks a date's clicks by id). Returns the rows inserted.
pub async fn insert_clicks_with_ids(
    db: &impl ConnectionTrait,
    clicks: &[(u64, domain::Click)],
) -> Result<u64, DbErr> {
    let received_at = chrono::Utc::now().naive_utc();
    let rows = clicks.iter().map(|(id, click)| click::ActiveModel {
        id: ActiveValue::Set(*id),
        click_id: ActiveValue::Set(click.click_id.clone()),
        offer_id: ActiveValue::Set(click.offer_id.get()),
        source: ActiveValue::Set(click.source.clone()),
        clicked_at: ActiveValue::Set(click.timestamp.naive_utc()),
        click_date: ActiveValue::Set(click.date()),
        signature: ActiveValue::Set(click.signature.clone()),
        received_at: ActiveValue::Set(received_at),
        batch_token: ActiveValue::Set(0),
        export_chunk: ActiveValue::NotSet,
    });
    click::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
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
