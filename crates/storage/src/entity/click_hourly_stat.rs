//! `click_hourly_stats`: clicks per UTC hour, offer and source.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "click_hourly_stats")]
pub struct Model {
    /// The UTC hour's start.
    #[sea_orm(primary_key, auto_increment = false)]
    pub click_hour: DateTime,
    #[sea_orm(primary_key, auto_increment = false)]
    pub offer_id: u64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    pub clicks_count: u64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
