//! Schema migrations. Run them with `make migrate` (the `migrate` binary);
//! no service applies them on boot, so replicas never race each other.
//!
//! Every statement must run on MySQL 8 and MariaDB 10.11 alike.

pub use sea_orm_migration::prelude::*;

mod m20250601_000001_create_clicks;
mod m20250601_000002_create_click_daily_stats;
mod m20250601_000003_create_click_hourly_stats;
mod m20250601_000004_create_report_date_versions;
mod m20250602_000001_create_click_exports;
mod m20250603_000001_add_daily_count_index;
mod m20250604_000001_create_daily_dimension_stats;
mod m20261128_000001_exact_text_identity;
mod m20261129_000001_create_aggregate_deltas;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250601_000001_create_clicks::Migration),
            Box::new(m20250601_000002_create_click_daily_stats::Migration),
            Box::new(m20250601_000003_create_click_hourly_stats::Migration),
            Box::new(m20250601_000004_create_report_date_versions::Migration),
            Box::new(m20250602_000001_create_click_exports::Migration),
            Box::new(m20250603_000001_add_daily_count_index::Migration),
            Box::new(m20250604_000001_create_daily_dimension_stats::Migration),
            Box::new(m20261128_000001_exact_text_identity::Migration),
            Box::new(m20261129_000001_create_aggregate_deltas::Migration),
        ]
    }
}
