//! Start-up glue shared by the three binaries: settings from flags, the
//! environment and a `.env` file; logs; and a shutdown token tied to signals.

pub mod body;
pub mod health;
mod legacy_env;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
mod secret_value;
pub mod watched;

pub use secret_value::SecretValue;

use std::ffi::{OsStr, OsString};

use clap::{CommandFactory, FromArgMatches};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Parses settings from the command line and the environment, with values
/// from a `.env` file (if any) where neither sets them.
///
/// A missing or unusable value stops the process with one line naming the
/// variable, and exit status 2. `--help` and `--version` print as usual.
pub fn parse_settings<T: CommandFactory + FromArgMatches>() -> T {
    let command = T::command();
    let binary = command.get_name().to_owned();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let dotenv: Vec<(String, String)> = dotenvy::dotenv_iter()
        .map(|entries| entries.flatten().collect())
        .unwrap_or_default();
    args.extend(dotenv_args(&command, &args, &dotenv));
    // The old service's DB_* / REDIS_* variables, when the URLs are set nowhere.
    let lookup = |name: &str| {
        std::env::var(name).ok().or_else(|| {
            dotenv
                .iter()
                .find(|(entry, _)| entry == name)
                .map(|(_, value)| value.clone())
        })
    };
    for (variable, url) in legacy_env::urls(lookup) {
        args.extend(flag_for(&command, &args, variable, &url));
    }
    match command
        .try_get_matches_from(args)
        .and_then(|matches| T::from_arg_matches(&matches))
    {
        Ok(settings) => settings,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                error.exit();
            }
            eprintln!(
                "{binary}: configuration error: {}",
                one_line(&error.to_string())
            );
            std::process::exit(2);
        }
    }
}

/// clap's message without its usage block, folded onto one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned()
}

/// Turns `.env` entries into `--flag=value` arguments for the settings that
/// read that variable, unless the environment or the command line already
/// sets them. This keeps the process environment untouched.
fn dotenv_args(
    command: &clap::Command,
    given: &[OsString],
    entries: &[(String, String)],
) -> Vec<OsString> {
    entries
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .filter_map(|(name, value)| flag_for(command, given, name, value))
        .collect()
}

/// `--flag=value` for the setting that reads `variable`, unless the command
/// has no such setting or the command line already gives it.
fn flag_for(
    command: &clap::Command,
    given: &[OsString],
    variable: &str,
    value: &str,
) -> Option<OsString> {
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_env() == Some(OsStr::new(variable)))?;
    let flag = format!("--{}", arg.get_long()?);
    let already_given = given.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    (!already_given).then(|| OsString::from(format!("{flag}={value}")))
}

/// The end of a binary's `main`: a failure is one line on stderr,
/// `<binary>: <error>: <cause>: …`, and exit status 1 — never a backtrace or
/// a `Caused by:` block (whatever `RUST_BACKTRACE` says), and never a secret
/// (errors carry masked URLs only).
pub fn exit_with(
    binary: &str,
    outcome: anyhow::Result<std::process::ExitCode>,
) -> std::process::ExitCode {
    outcome.unwrap_or_else(|error| {
        eprintln!("{binary}: {}", one_line(&format!("{error:#}")));
        std::process::ExitCode::FAILURE
    })
}

/// Logs to stderr: JSON lines when `LOG_FORMAT=json`, readable text otherwise;
/// the level comes from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

/// A token cancelled on SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs an actix server until `shutdown` is cancelled, then stops accepting
/// connections and lets the requests in flight finish before returning.
pub async fn serve_until_cancelled(
    server: actix_web::dev::Server,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    server.await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_fold_to_one_line_naming_the_flag() {
        let message = "error: the following required arguments were not provided:\n  --webhook-secret-key <WEBHOOK_SECRET_KEY>\n\nUsage: ingest --webhook-secret-key <WEBHOOK_SECRET_KEY>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(message),
            "the following required arguments were not provided: --webhook-secret-key <WEBHOOK_SECRET_KEY>"
        );
    }
}
