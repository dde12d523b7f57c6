//! Deltas: what a committed batch adds to the aggregates, kept in
//! `aggregate_deltas` until a fold adds it (see the parent module).

use chrono::{DateTime, NaiveDateTime};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    AccessMode, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::{Group, Groups, add_to_aggregates};
use crate::entity::aggregate_delta;

/// Deltas one fold takes at most.
pub const MAX_DELTAS_PER_FOLD: u64 = 500;
/// Clicks one fold takes at most (but at least one delta, whatever its
/// size): at one group per click, about 10 MB of JSON to read and merge,
/// whatever `CLICKS_BATCH_SIZE` is.
pub const MAX_CLICKS_PER_FOLD: u64 = 250_000;

const SECONDS_PER_HOUR: i64 = 3_600;

/// One group of a delta as stored: (hours since the epoch, offer, source, clicks).
type Row<S> = (i64, u64, S, i64);

/// Records, in the storing transaction `txn`, what the clicks it inserted
/// add to each group.
pub(crate) async fn record(txn: &impl ConnectionTrait, groups: &Groups) -> Result<(), DbErr> {
    let clicks: i64 = groups.values().sum();
    aggregate_delta::Entity::insert(aggregate_delta::ActiveModel {
        id: ActiveValue::NotSet,
        clicks: ActiveValue::Set(u64::try_from(clicks).unwrap_or(0)),
        counts: ActiveValue::Set(encode(groups)?),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// `groups` as a delta's `counts`.
fn encode(groups: &Groups) -> Result<String, DbErr> {
    let rows: Vec<Row<&str>> = groups
        .iter()
        .map(|((_, hour, offer_id, source), count)| {
            (
                hour.and_utc().timestamp() / SECONDS_PER_HOUR,
                *offer_id,
                source.as_str(),
                *count,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| DbErr::Custom(e.to_string()))
}

/// Adds `delta`'s counts to `groups`.
fn merge(groups: &mut Groups, delta: &aggregate_delta::Model) -> Result<(), DbErr> {
    let rows: Vec<Row<String>> = serde_json::from_str(&delta.counts)
        .map_err(|e| DbErr::Custom(format!("aggregate delta {} is unreadable: {e}", delta.id)))?;
    for (hour, offer_id, source, count) in rows {
        let hour_start: NaiveDateTime = hour
            .checked_mul(SECONDS_PER_HOUR)
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .ok_or_else(|| DbErr::Custom(format!("aggregate delta {}: hour {hour}", delta.id)))?
            .naive_utc();
        let group: Group = (hour_start.date(), hour_start, offer_id, source);
        *groups.entry(group).or_default() += count;
    }
    Ok(())
}

/// What one fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    /// Deltas added to the aggregates and deleted.
    pub deltas: u64,
    /// Clicks they counted.
    pub clicks: u64,
    /// The fold took as many deltas as it may: more may be waiting.
    pub more: bool,
}

/// Folds up to `max_deltas` pending deltas holding up to `max_clicks` clicks
/// (at least one delta), oldest first, into the aggregates in one
/// transaction; the worker passes [`MAX_DELTAS_PER_FOLD`] and
/// [`MAX_CLICKS_PER_FOLD`]. Deltas another fold holds are skipped,
/// not waited for.
pub async fn fold_pending(
    db: &DatabaseConnection,
    max_deltas: u64,
    max_clicks: u64,
) -> Result<Folded, DbErr> {
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::ReadCommitted),
            Some(AccessMode::ReadWrite),
        )
        .await?;
    // Lock the oldest free deltas, then read the counts of as many as
    // `max_clicks` allows; the rest stay for the next fold.
    let locked: Vec<(u64, u64)> = aggregate_delta::Entity::find()
        .select_only()
        .column(aggregate_delta::Column::Id)
        .column(aggregate_delta::Column::Clicks)
        .order_by_asc(aggregate_delta::Column::Id)
        .limit(max_deltas)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    let mut chosen = Vec::with_capacity(locked.len());
    let mut clicks = 0;
    for (id, delta_clicks) in &locked {
        if !chosen.is_empty() && clicks + delta_clicks > max_clicks {
            break;
        }
        chosen.push(*id);
        clicks += delta_clicks;
    }
    if chosen.is_empty() {
        txn.commit().await?;
        return Ok(Folded::default());
    }
    let deltas = aggregate_delta::Entity::find()
        .filter(aggregate_delta::Column::Id.is_in(chosen.iter().copied()))
        .all(&txn)
        .await?;
    let mut groups = Groups::new();
    for delta in &deltas {
        merge(&mut groups, delta)?;
    }
    add_to_aggregates(&txn, &groups).await?;
    aggregate_delta::Entity::delete_many()
        .filter(aggregate_delta::Column::Id.is_in(chosen.iter().copied()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Folded {
        deltas: deltas.len() as u64,
        clicks,
        more: locked.len() as u64 >= max_deltas || chosen.len() < locked.len(),
    })
}

/// Folds until no delta is left that another fold does not hold.
pub async fn fold_all(db: &DatabaseConnection) -> Result<Folded, DbErr> {
    let mut total = Folded::default();
    loop {
        let folded = fold_pending(db, MAX_DELTAS_PER_FOLD, MAX_CLICKS_PER_FOLD).await?;
        total.deltas += folded.deltas;
        total.clicks += folded.clicks;
        if !folded.more {
            return Ok(total);
        }
    }
}

/// Deltas not yet folded (including any a fold is adding right now).
pub async fn pending_deltas(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    aggregate_delta::Entity::find().count(db).await
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn a_delta_reads_back_as_the_groups_it_was_written_from() {
        let hour = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2025, 6, d)
                .and_then(|date| date.and_hms_opt(h, 0, 0))
                .expect("valid")
        };
        let mut groups = Groups::new();
        for (d, h, offer, source, count) in [
            (9, 0, 1, "network_1", 3),
            (9, 23, 1, "network_1", 1),
            (10, 0, u64::MAX, "sp ace ", 2),
            (11, 5, 7, "ünï\"code\\", 1),
        ] {
            groups.insert(
                (hour(d, h).date(), hour(d, h), offer, source.to_owned()),
                count,
            );
        }
        let delta = aggregate_delta::Model {
            id: 1,
            clicks: 7,
            counts: encode(&groups).expect("json"),
        };
        let mut read = Groups::new();
        merge(&mut read, &delta).expect("readable");
        merge(&mut read, &delta).expect("readable");
        let doubled: Groups = groups.into_iter().map(|(g, c)| (g, c * 2)).collect();
        assert_eq!(read, doubled);
    }
}
