use std::process::ExitCode;

use reporting_api::{Application, Command, ConfigurationError, Settings, export, keys};

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::exit_with("reporting-api", run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let mut settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    match settings.command.take() {
        None | Some(Command::Serve) => {
            let shutdown = service_runtime::shutdown_on_signals();
            match Application::build(settings, shutdown).await {
                Ok(app) => app.run_until_stopped().await?,
                Err(error) if error.is::<ConfigurationError>() => {
                    eprintln!("reporting-api: configuration error: {error}");
                    return Ok(ExitCode::from(2));
                }
                Err(error) => return Err(error),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export(args)) => Ok(export::run_cli(settings, args).await),
        Some(Command::Keys(args)) => Ok(keys::cli::run(args)),
        Some(Command::Retention(args)) => {
            Ok(reporting_api::retention::run_cli(&settings, args).await)
        }
    }
}
