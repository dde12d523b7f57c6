//! The Finance export's bookkeeping: one `click_exports` row per date (state,
//! progress, the lease that keeps exports of one date from overlapping), and
//! `clicks.export_chunk`, the chunk of that date's export each click was put
//! in (0: not yet).
//!
//! `export_chunk` is `NOT NULL DEFAULT 0` so the worker, which does not know
//! about it, inserts rows that are simply "not exported yet", and so that
//! assigning a chunk rewrites the row in place. It is deliberately not
//! indexed: the export walks a date by `(click_date, id)` and filters on it,
//! which keeps the per-chunk update from touching any secondary index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clicks {
    Table,
    ExportChunk,
}

#[derive(DeriveIden)]
enum ClickExports {
    Table,
    ExportDate,
    State,
    TotalClicks,
    ClicksSent,
    ChunksSent,
    Attempts,
    LastError,
    StartedAt,
    FinishedAt,
    PendingChunk,
    PendingFirstId,
    PendingLastId,
    PendingClicks,
    PendingTotal,
    LeaseOwner,
    LeaseExpiresAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("clicks", "export_chunk").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Clicks::Table)
                        .add_column(
                            ColumnDef::new(Clicks::ExportChunk)
                                .integer()
                                .unsigned()
                                .not_null()
                                .default(0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        let datetime = || Alias::new("DATETIME(6)");
        manager
            .create_table(
                Table::create()
                    .table(ClickExports::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ClickExports::ExportDate)
                            .date()
                            .not_null()
                            .primary_key(),
                    )
                    // running | completed | failed
                    .col(
                        ColumnDef::new(ClickExports::State)
                            .string_len(16)
                            .not_null(),
                    )
                    // The date's clicks when the last chunk was formed.
                    .col(
                        ColumnDef::new(ClickExports::TotalClicks)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    // Clicks Finance acknowledged, over every run.
                    .col(
                        ColumnDef::new(ClickExports::ClicksSent)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    // Chunks 1..=chunks_sent are acknowledged.
                    .col(
                        ColumnDef::new(ClickExports::ChunksSent)
                            .integer()
                            .unsigned()
                            .not_null()
                            .default(0),
                    )
                    // Runs started.
                    .col(
                        ColumnDef::new(ClickExports::Attempts)
                            .integer()
                            .unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(ClickExports::LastError).text().null())
                    .col(
                        ColumnDef::new(ClickExports::StartedAt)
                            .custom(datetime())
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ClickExports::FinishedAt)
                            .custom(datetime())
                            .null(),
                    )
                    // The chunk formed but not yet acknowledged (0: none):
                    // where its rows lie, how many, and the total it was
                    // sent with, so that it is re-sent byte for byte.
                    .col(
                        ColumnDef::new(ClickExports::PendingChunk)
                            .integer()
                            .unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ClickExports::PendingFirstId)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ClickExports::PendingLastId)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ClickExports::PendingClicks)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ClickExports::PendingTotal)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ClickExports::LeaseOwner)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ClickExports::LeaseExpiresAt)
                            .custom(datetime())
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ClickExports::UpdatedAt)
                            .custom(datetime())
                            .not_null(),
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
            .drop_table(Table::drop().table(ClickExports::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clicks::Table)
                    .drop_column(Clicks::ExportChunk)
                    .to_owned(),
            )
            .await
    }
}
