//! `migrate [up|down|status|fresh|refresh|reset]` against `DATABASE_URL`.
//!
//! Settings come from flags, the environment and `.env` like the other
//! binaries; a bad or unreachable `DATABASE_URL` is one line naming it
//! (password masked) and exit status 1 (`service_runtime::exit_with`), never
//! a panic.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use service_runtime::SecretValue;
use storage::DatabaseUrl;

/// Applies the schema migrations of the clicks service.
#[derive(Debug, Parser)]
#[command(name = "migrate", version, about, args_override_self = true)]
struct Settings {
    /// The service's MySQL/MariaDB database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "mysql://root@127.0.0.1:3306/clicks_service",
        hide_env_values = true,
        value_parser = SecretValue::new("DATABASE_URL", DatabaseUrl::parse)
    )]
    database_url: DatabaseUrl,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Apply pending migrations (the default), or the next N.
    Up {
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back the last N applied migrations.
    Down {
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// List every migration and whether it is applied.
    Status,
    /// Drop every table, then apply every migration.
    Fresh,
    /// Roll back every applied migration, then apply them again.
    Refresh,
    /// Roll back every applied migration.
    Reset,
}

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::exit_with("migrate", run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    let db = storage::connect_url(&settings.database_url, "DATABASE_URL", 1).await?;
    let outcome = match settings.command.unwrap_or(Command::Up { num: None }) {
        Command::Up { num } => Migrator::up(&db, num).await,
        Command::Down { num } => Migrator::down(&db, Some(num)).await,
        Command::Status => Migrator::status(&db).await,
        Command::Fresh => Migrator::fresh(&db).await,
        Command::Refresh => Migrator::refresh(&db).await,
        Command::Reset => Migrator::reset(&db).await,
    };
    // The driver's errors may quote the URL: only its masked form leaves.
    outcome.map_err(|error| {
        let url = &settings.database_url;
        anyhow::anyhow!(error.to_string().replace(url.expose(), &url.redacted()))
    })?;
    Ok(ExitCode::SUCCESS)
}
