//! Ingest started in-process for a test, and signed posts to it (shared by
//! the test files that declare `mod support;`).
#![allow(dead_code)]

use std::time::Duration;

use clap::Parser;
use ingest::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The webhook secret of every app started here.
pub const KEY: &str = "support-secret";

pub struct Ingest {
    pub base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    running: JoinHandle<anyhow::Result<()>>,
}

/// Ingest built from `flags` (after the program name, on a free port of
/// 127.0.0.1 with a 500 ms Redis timeout) and running: its base URL, the
/// token that stops it, and its task.
pub async fn launch(
    flags: impl IntoIterator<Item = String>,
) -> (String, CancellationToken, JoinHandle<anyhow::Result<()>>) {
    let mut args = vec![
        "ingest".to_owned(),
        "--ingest-bind=127.0.0.1:0".to_owned(),
        "--redis-timeout-ms=500".to_owned(),
    ];
    args.extend(flags);
    let settings = Settings::try_parse_from(args).expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    (base, shutdown, tokio::spawn(app.run_until_stopped()))
}

impl Ingest {
    /// Ingest on a free port of 127.0.0.1, appending to `stream_key` on
    /// `redis_url`; `extra` flags are appended.
    pub async fn start(redis_url: &str, stream_key: &str, extra: &[&str]) -> Self {
        let mut flags = vec![
            format!("--webhook-secret-key={KEY}"),
            format!("--redis-url={redis_url}"),
            format!("--clicks-queue-name={stream_key}"),
            "--http-workers=1".to_owned(),
        ];
        flags.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let (base, shutdown, running) = launch(flags).await;
        Self {
            base,
            client: reqwest::Client::new(),
            shutdown,
            running,
        }
    }

    /// Posts `body` as JSON to `path`, signed with [`KEY`].
    pub async fn post_signed(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-signature", domain::sign(KEY.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .expect("post")
    }

    /// Shuts down and waits for a clean exit.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.running)
            .await
            .expect("stops")
            .expect("joins")
            .expect("clean exit");
    }
}
