//! Clicks per UTC hour, offer and source, maintained by the worker in the
//! same transaction as the daily table. Reports in a time zone other than
//! UTC sum the 24 (23, 25) UTC hours of each local day from here.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClickHourlyStats {
    Table,
    /// The UTC hour's start, e.g. `2025-06-11 14:00:00`.
    ClickHour,
    OfferId,
    Source,
    ClicksCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClickHourlyStats::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClickHourlyStats::ClickHour)
                            .date_time()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickHourlyStats::OfferId)
                            .big_unsigned()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickHourlyStats::Source)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickHourlyStats::ClicksCount)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ClickHourlyStats::ClickHour)
                            .col(ClickHourlyStats::OfferId)
                            .col(ClickHourlyStats::Source),
                    )
                    .index(
                        Index::create()
                            .name("idx_hourly_offer_hour")
                            .col(ClickHourlyStats::OfferId)
                            .col(ClickHourlyStats::ClickHour),
                    )
                    .index(
                        Index::create()
                            .name("idx_hourly_source_hour")
                            .col(ClickHourlyStats::Source)
                            .col(ClickHourlyStats::ClickHour),
                    )
                    .engine("InnoDB")
                    .character_set("utf8mb4")
                    .collate("utf8mb4_bin")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClickHourlyStats::Table).to_owned())
            .await
    }
}
