//! What the harnesses (`clicks-bench`, `clicks-chaos`) share to run the real
//! binaries: child processes with their logs ([`procs`]), a keep-alive
//! HTTP/1.1 client that signs webhooks ([`conn`]), and guards that keep all
//! traffic on this machine.

pub mod conn;
pub mod procs;

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming the signal.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
