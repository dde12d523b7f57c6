//! `click_daily_stats`: clicks per UTC day, offer and source.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "click_daily_stats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub click_date: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub offer_id: u64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    pub clicks_count: u64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
