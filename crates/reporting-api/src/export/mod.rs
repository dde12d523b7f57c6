//! The export of a day's clicks to Finance (SPEC §5): `POST /api/export/forward`,
//! `GET /api/export/status` and the `export` subcommand.

use actix_web::{HttpResponse, web};

use crate::Settings;
use crate::auth::Authenticated;

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
        .route("/forward", web::post().to(not_yet))
        .route("/status", web::get().to(not_yet));
}

async fn not_yet(_: Authenticated) -> HttpResponse {
    HttpResponse::NotImplemented().json(serde_json::json!({"error": "Not implemented yet"}))
}

/// Runs the `export` subcommand; the process exit code.
pub async fn run_cli(_settings: Settings, _args: ExportArgs) -> std::process::ExitCode {
    eprintln!("reporting-api export: not implemented yet");
    std::process::ExitCode::from(2)
}
