//! Settings of `reporting-api`: every one a flag and an environment variable.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

/// Reports and the Finance export of the clicks service.
#[derive(Debug, Clone, Parser)]
#[command(name = "reporting-api", version, about, args_override_self = true)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// MySQL/MariaDB holding clicks and aggregates.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "mysql://root@127.0.0.1:3306/clicks_service",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Replica for report reads (default: DATABASE_URL).
    #[arg(long, global = true, env = "DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// Redis (report cache).
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Listen address.
    #[arg(
        long,
        global = true,
        env = "REPORTING_BIND",
        default_value = "0.0.0.0:8081"
    )]
    pub reporting_bind: SocketAddr,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Export clicks to Finance (for cron).
    Export,
}

impl Settings {
    pub fn read_url(&self) -> &str {
        self.database_read_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }
}
