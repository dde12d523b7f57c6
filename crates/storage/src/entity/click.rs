//! `clicks`: one row per distinct `click_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clicks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: u64,
    #[sea_orm(unique)]
    pub click_id: String,
    pub offer_id: u64,
    pub source: String,
    /// UTC.
    pub clicked_at: DateTime,
    /// The UTC day of `clicked_at`.
    pub click_date: Date,
    pub signature: String,
    /// UTC.
    pub received_at: DateTime,
    /// The worker transaction that inserted the row.
    pub batch_token: u64,
    /// The chunk of its date's Finance export this click went out in (0: not
    /// yet); `DEFAULT 0`, so the worker's inserts leave it out.
    pub export_chunk: u32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
