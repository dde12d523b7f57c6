//! Senders from the keys file: each posts only its own sources, is known by
//! its keys (or named by `X-Sender`), has its own rate, and changes to the
//! file apply without a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ingest::{Application, Settings};
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
    let mut args = vec![
        "ingest".to_owned(),
        format!("--clicks-keys-file={}", file.display()),
        format!("--redis-url={}", stream.redis_url),
        format!("--clicks-queue-name={}", stream.key),
        "--ingest-bind=127.0.0.1:0".to_owned(),
        "--http-workers=1".to_owned(),
        "--redis-timeout-ms=500".to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let settings = Settings::try_parse_from(args).expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
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

#[tokio::test]
async fn a_sender_posts_only_its_own_sources() {
    let app = start(&keys_file(TWO_SENDERS), &[]).await;

    assert_eq!(app.click("key-a1", "a-1", "network_a").await, 202);
    assert_eq!(app.click("key-a1", "a-2", "network_a_eu").await, 202);
    assert_eq!(app.click("key-b", "b-1", "network_b").await, 202);
    let (status, body) = app
        .post(
            "/api/webhook/clicks",
            "key-a1",
            None,
            &click("a-3", "network_b"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        json!({"error": "Forbidden", "details": {"source": ["The sender net-a may not post clicks of this source."]}})
    );
    // Exact bytes: a trailing space or another case is another source.
    assert_eq!(app.click("key-a1", "a-4", "network_a ").await, 403);
    assert_eq!(app.click("key-a1", "a-5", "Network_A").await, 403);
    // A disabled sender's key, or no sender's key, proves nothing.
    assert_eq!(app.click("key-retired", "r-1", "network_a").await, 401);
    assert_eq!(app.click("key-nobody", "n-1", "network_a").await, 401);

    // Naming the sender: only its keys are tried.
    let named = |key, sender, id| {
        let app = &app;
        async move {
            app.post(
                "/api/webhook/clicks",
                key,
                Some(sender),
                &click(id, "network_a"),
            )
            .await
            .0
        }
    };
    assert_eq!(named("key-a1", "net-a", "a-6").await, 202);
    assert_eq!(named("key-a1", "net-b", "a-7").await, 401);
    assert_eq!(named("key-a1", "nobody", "a-8").await, 401);

    // A batch: the forbidden and the invalid items are reported, the rest go in.
    let (status, body) = app
        .post(
            "/api/webhook/clicks/batch",
            "key-a1",
            None,
            &json!({"clicks": [
                click("batch-1", "network_a"),
                click("batch-2", "network_b"),
                click("batch-3", "network_a_us"),
                {"click_id": "batch-4", "offer_id": 7, "source": "network_a", "signature": "s"},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["click_id"], "batch-2");
    assert!(body["errors"][0]["details"]["source"].is_array(), "{body}");
    assert_eq!(body["errors"][1]["index"], 3);
    assert!(
        body["errors"][1]["details"]["timestamp"].is_array(),
        "{body}"
    );

    // Standard Webhooks: two senders' message ids never collide.
    assert_eq!(
        app.timestamped("key-b", "msg-1", &click("ts-b", "network_b"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-a1", "msg-1", &click("ts-a", "network_a"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-b", "msg-1", &click("ts-b", "network_b"))
            .await,
        202
    );
    assert_eq!(
        app.timestamped("key-a1", "msg-2", &click("ts-x", "network_b"))
            .await,
        403
    );

    assert_eq!(
        app.stored_ids().await,
        [
            "a-1", "a-2", "b-1", "a-6", "batch-1", "batch-3", "ts-b", "ts-a"
        ]
    );
    let metrics = app.metrics().await;
    assert_eq!(
        value_of(
            &metrics,
            r#"sender_clicks_total{sender="net-a",result="forbidden"}"#
        ),
        5.0,
        "{metrics}"
    );
    assert_eq!(
        value_of(
            &metrics,
            r#"sender_clicks_total{sender="net-b",result="accepted"}"#
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &metrics,
            r#"clicks_rejected_total{reason="source_not_allowed"}"#
        ),
        5.0
    );
    assert!(!metrics.contains("key-a1"), "a key in the metrics");
    app.stop().await;
}

#[tokio::test]
async fn keys_change_without_a_restart_and_a_bad_file_keeps_the_last_good_one() {
    let path = keys_file(TWO_SENDERS);
    let app = start(&path, &["--clicks-keys-file-check-secs=1"]).await;
    assert_eq!(app.click("key-a1", "x-1", "network_a").await, 202);

    // Rotation: a second key for net-a, then the first one withdrawn; net-b
    // is untouched throughout; a new sender appears.
    rewrite(
        &path,
        &TWO_SENDERS.replace(r#"keys = ["key-a1"]"#, r#"keys = ["key-a1", "key-a2"]"#),
    );
    app.until("key-a2", "network_a", 202).await;
    assert_eq!(app.click("key-a1", "x-2", "network_a").await, 202);
    assert_eq!(app.click("key-b", "x-3", "network_b").await, 202);
    let rotated = TWO_SENDERS.replace(r#"keys = ["key-a1"]"#, r#"keys = ["key-a2"]"#)
        + "\n[[sender]]\nname = \"net-c\"\nsources = [\"network_c\"]\nkeys = [\"key-c\"]\n";
    rewrite(&path, &rotated);
    app.until("key-a1", "network_a", 401).await;
    assert_eq!(app.click("key-a2", "x-4", "network_a").await, 202);
    assert_eq!(app.click("key-b", "x-5", "network_b").await, 202);
    assert_eq!(app.click("key-c", "x-6", "network_c").await, 202);

    // A malformed version: logged and counted, the last good one stays.
    rewrite(&path, "[[sender]]\nname = \"net-a\"\nkeys = [\"key-a3\"]\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while value_of(
        &app.metrics().await,
        r#"file_reloads_total{result="error"}"#,
    ) < 1.0
    {
        assert!(Instant::now() < deadline, "the bad version was not noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.click("key-a2", "x-7", "network_a").await, 202);
    assert_eq!(app.click("key-c", "x-8", "network_c").await, 202);
    assert_eq!(app.click("key-a3", "x-9", "network_a").await, 401);
    assert!(value_of(&app.metrics().await, r#"file_reloads_total{result="ok"}"#) >= 2.0);
    app.stop().await;
}

#[tokio::test]
async fn each_sender_has_its_own_rate() {
    let file = TWO_SENDERS.replace(
        r#"keys = ["key-a1"]"#,
        "keys = [\"key-a1\"]\nrate_limit = 1\nrate_burst = 2",
    );
    let app = start(&keys_file(&file), &[]).await;
    assert_eq!(app.click("key-a1", "r-1", "network_a").await, 202);
    assert_eq!(app.click("key-a1", "r-2", "network_a").await, 202);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json")
        .header(
            "x-signature",
            domain::sign(b"key-a1", br#"{"click_id":"r-3"}"#),
        )
        .body(r#"{"click_id":"r-3"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    for n in 0..10 {
        assert_eq!(
            app.click("key-b", &format!("b-{n}"), "network_b").await,
            202
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_bad_keys_file_at_start_is_one_line_without_its_keys() {
    for (text, expected) in [
        (
            "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"top-secret\"\n",
            "not valid TOML at line 4",
        ),
        (
            "[[sender]]\nname = \"a\"\nsources = [\"x\"]\nkeys = [\"top-secret\"]\nenabled = false\n",
            "no sender",
        ),
    ] {
        let path = keys_file(text);
        let stream = TestStream::create();
        let settings = Settings::try_parse_from([
            "ingest".to_owned(),
            format!("--clicks-keys-file={}", path.display()),
            format!("--redis-url={}", stream.redis_url),
            "--ingest-bind=127.0.0.1:0".to_owned(),
        ])
        .expect("settings");
        let error = Application::build(settings, CancellationToken::new())
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(error.starts_with("CLICKS_KEYS_FILE="), "{error}");
        assert!(error.contains(expected), "{error}");
        assert!(
            !error.contains("top-secret") && !error.contains('\n'),
            "{error}"
        );
        std::fs::remove_dir_all(path.parent().expect("dir")).ok();
        stream.drop().await;
    }
    // Neither a file nor WEBHOOK_SECRET_KEY: nobody could post.
    let settings =
        Settings::try_parse_from(["ingest", "--ingest-bind=127.0.0.1:0"]).expect("settings");
    let error = Application::build(settings, CancellationToken::new())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.starts_with("WEBHOOK_SECRET_KEY: no sender"),
        "{error}"
    );
}

/// The binary itself: `SIGHUP` reads the file at once (its periodic check
/// is an hour away here).
#[tokio::test]
async fn sighup_reloads_the_keys_file() {
    let path = keys_file(TWO_SENDERS);
    let stream = TestStream::create();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("port")
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("CLICKS_KEYS_FILE", &path)
        .env("CLICKS_KEYS_FILE_CHECK_SECS", "3600")
        .env("REDIS_URL", &stream.redis_url)
        .env("CLICKS_QUEUE_NAME", &stream.key)
        .env("INGEST_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start ingest");
    let base = format!("http://127.0.0.1:{port}");
    testkit::http::wait_for_status(&format!("{base}/livez"), 200, Duration::from_secs(20)).await;
    let app = App {
        base,
        client: reqwest::Client::new(),
        stream,
        shutdown: CancellationToken::new(),
        dir: path.parent().expect("dir").to_owned(),
    };
    assert_eq!(app.click("key-c", "h-1", "network_c").await, 401);
    rewrite(
        &path,
        &format!(
            "{TWO_SENDERS}\n[[sender]]\nname = \"net-c\"\nsources = [\"network_c\"]\nkeys = [\"key-c\"]\n"
        ),
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().expect("pid")).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    app.until("key-c", "network_c", 202).await;
    child.kill().await.ok();
    app.stop().await;
}
