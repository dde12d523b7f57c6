//! `report_date_versions`: bumped by the worker whenever a fold adds clicks
//! of a UTC date to the aggregates; cached reports are valid only for the
//! versions they saw.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_date_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub click_date: Date,
    pub version: u64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
