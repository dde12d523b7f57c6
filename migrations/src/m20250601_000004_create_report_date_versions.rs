//! A version per UTC date, bumped by the worker in the transaction that adds
//! clicks of that date. A cached report names the versions of the dates it
//! covers; when any has moved, the cache entry is not used. So a cached
//! answer is never older than the last commit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReportDateVersions {
    Table,
    ClickDate,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReportDateVersions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ReportDateVersions::ClickDate)
                            .date()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReportDateVersions::Version)
                            .big_unsigned()
                            .not_null()
                            .default(0),
                    )
                    .engine("InnoDB")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReportDateVersions::Table).to_owned())
            .await
    }
}
