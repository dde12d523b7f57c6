//! One row per distinct click: `click_id` is the identity, enforced by the
//! only unique key besides the surrogate primary key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clicks {
    Table,
    Id,
    ClickId,
    OfferId,
    Source,
    ClickedAt,
    ClickDate,
    Signature,
    ReceivedAt,
    BatchToken,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clicks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Clicks::Id)
                            .big_unsigned()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Clicks::ClickId).string_len(255).not_null())
                    .col(ColumnDef::new(Clicks::OfferId).big_unsigned().not_null())
                    .col(ColumnDef::new(Clicks::Source).string_len(255).not_null())
                    // UTC, microseconds.
                    .col(
                        ColumnDef::new(Clicks::ClickedAt)
                            .custom(Alias::new("DATETIME(6)"))
                            .not_null(),
                    )
                    // The UTC day of `clicked_at`, kept as a column so the
                    // export can walk one day by index.
                    .col(ColumnDef::new(Clicks::ClickDate).date().not_null())
                    .col(ColumnDef::new(Clicks::Signature).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Clicks::ReceivedAt)
                            .custom(Alias::new("DATETIME(6)"))
                            .not_null(),
                    )
                    // Which worker transaction inserted the row. The worker
                    // counts exactly the rows carrying its own token into the
                    // aggregates, so a redelivered click never counts twice.
                    .col(ColumnDef::new(Clicks::BatchToken).big_unsigned().not_null())
                    .index(
                        Index::create()
                            .name("uq_clicks_click_id")
                            .col(Clicks::ClickId)
                            .unique(),
                    )
                    .index(
                        Index::create()
                            .name("idx_clicks_click_date_id")
                            .col(Clicks::ClickDate)
                            .col(Clicks::Id),
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
            .drop_table(Table::drop().table(Clicks::Table).to_owned())
            .await
    }
}
