//! Exact text identity: `clicks.click_id` and every `source` column compare
//! byte for byte, trailing spaces included.
//!
//! The tables were created with `utf8mb4_bin`, which on MySQL 8 and MariaDB
//! 10.11 alike is a PAD SPACE collation: `"pad_id"` and `"pad_id "` were one
//! key, so the second click was answered 202 and then absorbed as a
//! duplicate. Each server has a NO PAD binary collation under a different
//! name (MySQL 8: `utf8mb4_0900_bin`; MariaDB: `utf8mb4_nopad_bin`, while
//! MariaDB 11.4+ maps the name `utf8mb4_0900_bin` to the PAD SPACE
//! `utf8mb4_bin`), so the server is asked which it is.
//!
//! Converting only splits what used to compare equal, so every unique and
//! primary key stays unique. Rows already merged stay merged. `ALTER TABLE
//! … MODIFY` copies the table: on a large `clicks` table, run it in a
//! maintenance window (see the README's upgrade notes).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The identity and grouping columns, by table.
const COLUMNS: [(&str, &[&str]); 4] = [
    ("clicks", &["click_id", "source"]),
    ("click_daily_stats", &["source"]),
    ("click_hourly_stats", &["source"]),
    ("click_daily_source_stats", &["source"]),
];

/// What the tables had before.
const PAD_SPACE_BIN: &str = "utf8mb4_bin";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let collation = no_pad_binary_collation(manager).await?;
        convert(manager, collation).await
    }

    /// Fails once the tables hold ids that only NO PAD tells apart (`a`
    /// and `a `): PAD SPACE would make them one key again.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        convert(manager, PAD_SPACE_BIN).await
    }
}

/// The server's NO PAD binary collation of `utf8mb4`.
async fn no_pad_binary_collation(manager: &SchemaManager<'_>) -> Result<&'static str, DbErr> {
    let db = manager.get_connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT VERSION() AS version",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("SELECT VERSION() returned no row".to_owned()))?;
    let version: String = row.try_get("", "version")?;
    Ok(if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    })
}

async fn convert(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (table, columns) in COLUMNS {
        let changes = columns
            .iter()
            .map(|column| {
                format!(
                    "MODIFY `{column}` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        db.execute_unprepared(&format!("ALTER TABLE `{table}` {changes}"))
            .await?;
    }
    Ok(())
}
