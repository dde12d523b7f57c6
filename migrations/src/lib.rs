//! Schema migrations. Run them with `make migrate` (the `migrate` binary);
//! no service applies them on boot, so replicas never race each other.
//!
//! Every statement must run on MySQL 8 and MariaDB 10.11 alike.

pub use sea_orm_migration::prelude::*;

mod m20250601_000001_create_clicks;
mod m20250601_000002_create_click_daily_stats;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250601_000001_create_clicks::Migration),
            Box::new(m20250601_000002_create_click_daily_stats::Migration),
        ]
    }
}

/// Character set and collation of every text column: byte-exact comparison,
/// so `Net` and `net` are different sources and different click ids.
pub(crate) const TEXT_COLLATION: &str = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
