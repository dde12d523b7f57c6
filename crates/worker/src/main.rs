use worker::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    let shutdown = service_runtime::shutdown_on_signals();
    let application = Application::build(settings, shutdown).await?;
    application.run_until_stopped().await
}
