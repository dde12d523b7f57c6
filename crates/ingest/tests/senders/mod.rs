//! Senders from the keys file: each posts only its own sources, is known by
//! its keys (or named by `X-Sender`), has its own rate, and changes to the
//! file apply without a restart.
//!
//! This module holds what its submodules share: the keys files, the app
//! started on one, and its signed posts.

mod keys_file;
mod permissions;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::TestStream;
use tokio_util::sync::CancellationToken;

const TWO_SENDERS: &str = r#"
[[sender]]
name = "net-a"
sources = ["network_a", "network_a_*"]
keys = ["key-a1"]

[[sender]]
name = "net-b"
sources = ["network_b"]
keys = ["key-b"]

[[sender]]
name = "retired"
sources = ["*"]
keys = ["key-retired"]
enabled = false
"#;

struct App {
    base: String,
    client: reqwest::Client,
    stream: TestStream,
    shutdown: CancellationToken,
    dir: PathBuf,
}

/// The keys file of a test, in a directory of its own.
fn keys_file(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ingest-senders-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("keys.toml");
    std::fs::write(&path, text).expect("write keys");
    path
}

/// Replaces the file the way a Kubernetes Secret does: a new file renamed
/// over the old one.
fn rewrite(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

async fn start(file: &Path, extra: &[&str]) -> App {
    let stream = TestStream::create();
    let mut flags = vec![
        format!("--clicks-keys-file={}", file.display()),
        format!("--redis-url={}", stream.redis_url),
        format!("--clicks-queue-name={}", stream.key),
        "--http-workers=1".to_owned(),
    ];
    flags.extend(extra.iter().map(|a| (*a).to_owned()));
    let (base, shutdown, _running) = crate::support::launch(flags).await;
    App {
        base,
        client: reqwest::Client::new(),
        stream,
        shutdown,
        dir: file.parent().expect("dir").to_owned(),
    }
}

fn click(id: &str, source: &str) -> Value {
    json!({
        "click_id": id,
        "offer_id": 7,
        "source": source,
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    })
}

impl App {
    /// Posts `body` signed (`X-Signature`) with `key`, naming `sender` if given.
    async fn post(
        &self,
        path: &str,
        key: &str,
        sender: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-signature", domain::sign(key.as_bytes(), &bytes));
        if let Some(sender) = sender {
            request = request.header("x-sender", sender);
        }
        let response = request.body(bytes).send().await.expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn click(&self, key: &str, id: &str, source: &str) -> u16 {
        self.post("/api/webhook/clicks", key, None, &click(id, source))
            .await
            .0
    }

    /// Posts with the Standard Webhooks headers, signed with `key`.
    async fn timestamped(&self, key: &str, id: &str, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).expect("json");
        let now = chrono::Utc::now().timestamp();
        self.client
            .post(format!("{}/api/webhook/clicks", self.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                domain::standard_webhooks::sign(key.as_bytes(), id, now, &bytes),
            )
            .body(bytes)
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    }

    async fn stored_ids(&self) -> Vec<String> {
        let mut conn = self.stream.conn().await;
        clickstream::inspect::entries(&mut conn, &self.stream.key)
            .await
            .expect("xrange")
            .iter()
            .flat_map(|entry| domain::stream_entry::decode_entry(&entry.fields).expect("entry"))
            .map(|click| click.click.click_id)
            .collect()
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Waits (≤ 5 s) until `key` posting `source` gets `status`.
    async fn until(&self, key: &str, source: &str, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        loop {
            n += 1;
            let got = self.click(key, &format!("probe-{key}-{n}"), source).await;
            if got == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{key} on {source}: still {got}, not {status}, after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.stream.drop().await;
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn value_of(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
