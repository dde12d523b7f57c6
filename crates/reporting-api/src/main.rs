use reporting_api::{Application, Command, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    match settings.command {
        None | Some(Command::Serve) => {
            let shutdown = service_runtime::shutdown_on_signals();
            Application::build(settings, shutdown)
                .await?
                .run_until_stopped()
                .await
        }
        Some(Command::Export) => {
            eprintln!("reporting-api export: not implemented yet");
            std::process::exit(2);
        }
    }
}
