use std::process::ExitCode;

use ingest::{Application, Command, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    service_runtime::exit_with("ingest", run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let mut settings: Settings = service_runtime::parse_settings();
    if let Some(Command::Keys(args)) = settings.command.take() {
        return Ok(ingest::keys_cli::run(args));
    }
    service_runtime::init_tracing();
    let shutdown = service_runtime::shutdown_on_signals();
    let application = Application::build(settings, shutdown).await?;
    application.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
