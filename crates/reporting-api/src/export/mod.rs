//! The export of a day's clicks to Finance (contract: Export to Finance): `POST /api/export/forward`,
//! `GET /api/export/status` and the `export` subcommand.
//!
//! Chunked, resumable and idempotent: see [`exporter`] for how a date is
//! walked and resumed, [`record`] for the per-date record and its lease, and
//! [`finance`] for retries.

/// Export runs by `outcome`: completed, failed, already_running.
pub const EXPORT_RUNS_TOTAL: &str = "export_runs_total";
/// Chunks Finance acknowledged.
pub const EXPORT_CHUNKS_TOTAL: &str = "export_chunks_total";
/// Clicks in those chunks.
pub const EXPORT_CLICKS_TOTAL: &str = "export_clicks_total";
/// Chunk sends that were retried.
pub const EXPORT_RETRIES_TOTAL: &str = "export_retries_total";

/// The export's metrics, registered at start.
pub const METRICS: &[service_runtime::metrics::Metric] = {
    use service_runtime::metrics::Metric;
    &[
        Metric::counter(EXPORT_RUNS_TOTAL, "Export runs, by outcome.")
            .by("outcome", &["completed", "failed", "already_running"]),
        Metric::counter(EXPORT_CHUNKS_TOTAL, "Chunks Finance acknowledged."),
        Metric::counter(
            EXPORT_CLICKS_TOTAL,
            "Clicks in the chunks Finance acknowledged.",
        ),
        Metric::counter(EXPORT_RETRIES_TOTAL, "Chunk sends that were retried."),
    ]
};

pub mod chunk;
mod cli;
pub mod exporter;
pub mod finance;
pub(crate) mod http;
pub use storage::export::record;

use actix_web::web;

pub use cli::{ExitStatus, export_dates};
pub use exporter::{Delivered, ExportError, Exporter};

use crate::Settings;

/// `reporting-api export` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// One date (YYYY-MM-DD); default: yesterday, UTC.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub date: Option<String>,
    /// First date of a range.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Last date of a range.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::Data::new(http::ExporterCell::default()))
        .service(service_runtime::routes::post("/forward", http::forward))
        .service(service_runtime::routes::get("/status", http::status));
}

/// Runs the `export` subcommand; the process exit code.
pub async fn run_cli(settings: Settings, args: ExportArgs) -> std::process::ExitCode {
    cli::run(settings, args).await
}
