//! `click_exports`: the Finance export of one date — its state, progress and
//! the lease that lets only one exporter work on the date at a time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "click_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub export_date: Date,
    /// `running`, `completed` or `failed`.
    pub state: String,
    /// The date's clicks when the last chunk was formed.
    pub total_clicks: u64,
    /// Clicks Finance acknowledged, over every run.
    pub clicks_sent: u64,
    /// Chunks `1..=chunks_sent` are acknowledged.
    pub chunks_sent: u32,
    /// Runs started.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// UTC.
    pub started_at: Option<DateTime>,
    /// UTC.
    pub finished_at: Option<DateTime>,
    /// The chunk formed but not yet acknowledged (0: none).
    pub pending_chunk: u32,
    /// The id range holding the pending chunk's rows.
    pub pending_first_id: u64,
    pub pending_last_id: u64,
    pub pending_clicks: u64,
    /// The `total_clicks` the pending chunk was sent with.
    pub pending_total: u64,
    pub lease_owner: Option<String>,
    /// UTC.
    pub lease_expires_at: Option<DateTime>,
    /// UTC.
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
