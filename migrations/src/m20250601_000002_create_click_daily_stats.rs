//! Clicks per UTC day, offer and source, maintained by the worker in the same
//! transaction that inserts the clicks. Reports read this table, never the
//! raw clicks.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClickDailyStats {
    Table,
    ClickDate,
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
                    .table(ClickDailyStats::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ClickDailyStats::ClickDate).date().not_null())
                    .col(
                        ColumnDef::new(ClickDailyStats::OfferId)
                            .big_unsigned()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailyStats::Source)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailyStats::ClicksCount)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ClickDailyStats::ClickDate)
                            .col(ClickDailyStats::OfferId)
                            .col(ClickDailyStats::Source),
                    )
                    // Report filters by offer or source over a date range.
                    .index(
                        Index::create()
                            .name("idx_daily_offer_date")
                            .col(ClickDailyStats::OfferId)
                            .col(ClickDailyStats::ClickDate),
                    )
                    .index(
                        Index::create()
                            .name("idx_daily_source_date")
                            .col(ClickDailyStats::Source)
                            .col(ClickDailyStats::ClickDate),
                    )
                    // Text columns inherit byte-exact comparison: `Net` and
                    // `net` are different sources and different click ids.
                    .engine("InnoDB")
                    .character_set("utf8mb4")
                    .collate("utf8mb4_bin")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClickDailyStats::Table).to_owned())
            .await
    }
}
