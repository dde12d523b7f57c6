//! `aggregate_deltas`: what a committed batch adds to the aggregates, not
//! yet folded into them (see [`crate::aggregates`]).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "aggregate_deltas")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: u64,
    /// Clicks the batch inserted: the sum of `counts`.
    pub clicks: u64,
    /// JSON: `[[hour, offer_id, source, count], …]`, `hour` counted in whole
    /// hours since the Unix epoch (UTC).
    #[sea_orm(column_type = "Text")]
    pub counts: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
