use std::process::ExitCode;

use reporting_api::{Application, Command, Settings, export};

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::exit_with("reporting-api", run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let mut settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    match settings.command.take() {
        None | Some(Command::Serve) => {
            if let Err(reason) = settings.api_keys() {
                eprintln!("reporting-api: configuration error: {reason}");
                return Ok(ExitCode::from(2));
            }
            let shutdown = service_runtime::shutdown_on_signals();
            Application::build(settings, shutdown)
                .await?
                .run_until_stopped()
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export(args)) => Ok(export::run_cli(settings, args).await),
    }
}
