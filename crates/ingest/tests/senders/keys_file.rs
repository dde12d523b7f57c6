//! The keys file: refused at start when bad, reloaded on change or `SIGHUP`, last good kept.

use std::time::{Duration, Instant};

use clap::Parser;
use ingest::{Application, Settings};
use testkit::TestStream;
use tokio_util::sync::CancellationToken;

use super::{App, TWO_SENDERS, keys_file, rewrite, start, value_of};

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
