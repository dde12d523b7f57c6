//! `aggregate_deltas`: the counts a committed batch of clicks adds to the
//! aggregates, written in the batch's own transaction and folded into the
//! aggregate tables later, many batches at once (see `storage::aggregates`).
//!
//! One row per batch; `counts` is JSON, so its longest form (a batch of
//! 50,000 clicks in as many groups, about 3 MB) needs `LONGTEXT`. Created
//! empty: aggregates written inline by an older worker are already complete,
//! so old and new workers can run side by side during an upgrade.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Raw SQL: sea-query has no LONGTEXT, and this text runs unchanged
        // on MySQL 8 and MariaDB 10.11.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS aggregate_deltas (\
                 id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                 clicks BIGINT UNSIGNED NOT NULL, \
                 counts LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL\
                 ) ENGINE=InnoDB",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS aggregate_deltas")
            .await
            .map(drop)
    }
}
