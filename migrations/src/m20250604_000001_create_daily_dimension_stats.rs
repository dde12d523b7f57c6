//! Clicks per UTC day and offer, and per UTC day and source: the summary's
//! totals, distinct counts and top lists read these instead of every
//! (offer, source) pair of every day. Maintained by the worker in the same
//! transaction as `click_daily_stats`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClickDailyOfferStats {
    Table,
    ClickDate,
    OfferId,
    ClicksCount,
}

#[derive(DeriveIden)]
enum ClickDailySourceStats {
    Table,
    ClickDate,
    Source,
    ClicksCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClickDailyOfferStats::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClickDailyOfferStats::ClickDate)
                            .date()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailyOfferStats::OfferId)
                            .big_unsigned()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailyOfferStats::ClicksCount)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ClickDailyOfferStats::ClickDate)
                            .col(ClickDailyOfferStats::OfferId),
                    )
                    .engine("InnoDB")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClickDailySourceStats::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClickDailySourceStats::ClickDate)
                            .date()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailySourceStats::Source)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClickDailySourceStats::ClicksCount)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ClickDailySourceStats::ClickDate)
                            .col(ClickDailySourceStats::Source),
                    )
                    // Byte-exact, like `source` everywhere else.
                    .engine("InnoDB")
                    .character_set("utf8mb4")
                    .collate("utf8mb4_bin")
                    .to_owned(),
            )
            .await?;
        // Existing aggregates, so an upgraded database reports the same numbers.
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO click_daily_offer_stats (click_date, offer_id, clicks_count) \
             SELECT click_date, offer_id, SUM(clicks_count) FROM click_daily_stats GROUP BY click_date, offer_id",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO click_daily_source_stats (click_date, source, clicks_count) \
             SELECT click_date, source, SUM(clicks_count) FROM click_daily_stats GROUP BY click_date, source",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClickDailySourceStats::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClickDailyOfferStats::Table).to_owned())
            .await
    }
}
