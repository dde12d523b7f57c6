use std::process::ExitCode;

use worker::{Application, Command, Settings};

/// The batches are many short-lived allocations of every size; glibc's
/// allocator spent a third of the worker's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::exit_with("worker", run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let mut settings: Settings = service_runtime::parse_settings();
    service_runtime::init_tracing();
    match settings.command.take() {
        None | Some(Command::Run) => {
            let shutdown = service_runtime::shutdown_on_signals();
            Application::build(settings, shutdown)
                .await?
                .run_until_stopped()
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::DeadLetter(command)) => {
            worker::cli::dead_letter_command(&settings, command).await
        }
    }
}
