//! Ingest while its Redis goes away and comes back: health turns 503 naming
//! Redis, readiness false, liveness still 200, webhooks 503 — and all of it
//! recovers once Redis is back. A private Redis, so the shared one is never touched.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::Ingest;
use testkit::RedisInstance;
use testkit::http::{get_json, wait_for_status};

/// Health notices a change within a few checks; generous for a loaded machine.
const NOTICE: Duration = Duration::from_secs(15);

async fn post_click(ingest: &Ingest, id: &str) -> u16 {
    let body = serde_json::to_vec(&json!({
        "click_id": id,
        "offer_id": 7,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    }))
    .expect("json");
    ingest
        .post_signed("/api/webhook/clicks", body)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_follows_redis_going_down_and_coming_back() {
    let mut redis = RedisInstance::start().await;
    let ingest = Ingest::start(&redis.url(), "clicks-down", &[]).await;
    let base = ingest.base.clone();
    let health = format!("{base}/api/health");

    wait_for_status(&health, 200, NOTICE).await;
    assert_eq!(post_click(&ingest, "before").await, 202);

    // A graceful stop, then a crash: both must be noticed and recovered from.
    for (round, crash) in [(1, false), (2, true)] {
        if crash {
            redis.kill();
        } else {
            redis.stop().await;
        }
        // Readiness follows the backlog monitor, which polls in the background.
        let ready = wait_for_status(&format!("{base}/readyz"), 503, NOTICE).await;
        assert_eq!(ready["ready"], false, "{ready}");
        let body = wait_for_status(&health, 503, NOTICE).await;
        assert_eq!(body["status"], "unhealthy", "{body}");
        assert_eq!(body["service"], "ingest");
        assert_eq!(body["checks"]["redis"]["status"], "down", "{body}");
        assert!(body["checks"]["redis"]["error"].is_string(), "{body}");
        assert_eq!(body["checks"]["backlog"]["status"], "down", "{body}");
        let (status, _) = get_json(&format!("{base}/livez")).await.expect("livez");
        assert_eq!(status, 200, "liveness never depends on Redis");
        assert_eq!(post_click(&ingest, &format!("lost-{round}")).await, 503);

        redis.restart().await;
        let body = wait_for_status(&health, 200, NOTICE).await;
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
        wait_for_status(&format!("{base}/readyz"), 200, NOTICE).await;
        assert_eq!(post_click(&ingest, &format!("after-{round}")).await, 202);
    }

    ingest.stop().await;
}

/// Builds ingest on `redis_url` with `extra` flags; the error's text when it refuses to start.
async fn start_error(redis_url: &str, extra: &[&str]) -> Option<String> {
    use clap::Parser;
    let mut args = vec![
        "ingest".to_owned(),
        format!("--webhook-secret-key={}", support::KEY),
        format!("--redis-url={redis_url}"),
        "--ingest-bind=127.0.0.1:0".to_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let settings = ingest::Settings::try_parse_from(args).expect("settings");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let outcome = ingest::Application::build(settings, shutdown.clone()).await;
    shutdown.cancel();
    outcome.err().map(|error| format!("{error:#}"))
}

/// A managed Redis: TLS with the server's CA and a client certificate, an
/// ACL user in the URL. Everything works; nothing prints the password.
#[tokio::test]
async fn redis_over_tls_with_an_acl_user_works_and_keeps_its_password() {
    let redis = RedisInstance::start_with(testkit::RedisOptions {
        tls: true,
        acl_user: Some(("clicks-app".to_owned(), "s3cret-pw".to_owned())),
        ..testkit::RedisOptions::default()
    })
    .await;
    let url = redis.url();
    assert!(url.starts_with("rediss://clicks-app:"), "{url}");
    let ca = format!("--redis-tls-ca-file={}", redis.ca_file().display());
    let cert = format!(
        "--redis-tls-cert-file={}",
        redis.client_cert_file().display()
    );
    let key = format!("--redis-tls-key-file={}", redis.client_key_file().display());
    let ingest = Ingest::start(&url, "clicks-tls", &[&ca, &cert, &key]).await;
    assert_eq!(post_click(&ingest, "over-tls").await, 202);
    let body = wait_for_status(&format!("{}/api/health", ingest.base), 200, NOTICE).await;
    assert_eq!(body["checks"]["redis"]["status"], "up", "{body}");
    assert!(!body.to_string().contains("s3cret-pw"));
    ingest.stop().await;

    // Without credentials the server says NOAUTH: ingest refuses to start,
    // naming the variable and never the password.
    let plain = redis.url_without_credentials();
    let error = start_error(&plain, &[&ca, &cert, &key])
        .await
        .expect("no credentials: no start");
    assert!(error.contains("REDIS_URL"), "{error}");
    let wrong = url.replace("s3cret-pw", "wrong-pw");
    let error = start_error(&wrong, &[&ca, &cert, &key])
        .await
        .expect("a wrong password: no start");
    assert!(error.contains("REDIS_URL"), "{error}");
    assert!(!error.contains("wrong-pw"), "{error}");
    // TLS files with a plain URL are a mistake, not a silent downgrade.
    let error = start_error("redis://127.0.0.1:6379", &[&ca])
        .await
        .expect("TLS files without rediss");
    assert!(error.contains("REDIS_TLS"), "{error}");
}

/// A password-only Redis (`requirepass`): the URL's password is used.
#[tokio::test]
async fn redis_with_a_password_works() {
    let redis = RedisInstance::start_with(testkit::RedisOptions {
        password: Some("pa:ss/w@rd".to_owned()),
        ..testkit::RedisOptions::default()
    })
    .await;
    let ingest = Ingest::start(&redis.url(), "clicks-pw", &[]).await;
    assert_eq!(post_click(&ingest, "with-password").await, 202);
    ingest.stop().await;
}

/// `REDIS_URL` mistakes stop ingest at start with one line naming it.
#[tokio::test]
async fn redis_url_mistakes_stop_ingest_at_start() {
    for (url, says) in [
        ("notaurl", "is not a URL"),
        ("http://127.0.0.1:6379", "scheme"),
        ("redis://127.0.0.1:6379,127.0.0.1:6380", "redis+cluster://"),
    ] {
        let error = start_error(url, &[]).await.expect(url);
        assert!(error.starts_with("REDIS_URL"), "{url}: {error}");
        assert!(error.contains(says), "{url}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
    // A cluster URL naming a node that is not in cluster mode.
    let standalone = RedisInstance::start().await;
    let cluster_form = standalone.url().replace("redis://", "redis+cluster://");
    let error = start_error(&cluster_form, &[])
        .await
        .expect("not a cluster");
    assert!(
        error.contains("REDIS_URL") && error.contains("not in cluster mode"),
        "{error}"
    );

    // A one-node URL naming a cluster node, and a cluster missing a master and its replica.
    let mut cluster = testkit::RedisCluster::start().await;
    let error = start_error(&cluster.node_url(0), &[])
        .await
        .expect("a cluster node");
    assert!(
        error.contains("REDIS_URL") && error.contains("redis+cluster://"),
        "{error}"
    );
    assert_eq!(
        start_error(&cluster.url(), &[]).await,
        None,
        "a whole cluster starts"
    );
    let master = cluster.master_of_slot(0).await;
    for replica in cluster.replicas_of(master).await {
        cluster.kill(replica);
    }
    cluster.kill(master);
    let mut refused = None;
    for _ in 0..40 {
        refused = start_error(&cluster.url(), &[]).await;
        if refused.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let error = refused.expect("a cluster with slots nobody serves does not start");
    assert!(
        error.contains("REDIS_URL") && error.contains("slots"),
        "{error}"
    );
}

/// `--help` lists `REDIS_URL` and the TLS files but never the URL's value:
/// it carries the password.
#[test]
fn help_never_prints_the_redis_url() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .arg("--help")
        .env(
            "REDIS_URL",
            "rediss+cluster://app:hunter2@cache-1:6379,cache-2:6379",
        )
        .env("WEBHOOK_SECRET_KEY", "k")
        .output()
        .expect("ingest --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    for listed in ["REDIS_URL", "REDIS_TLS_CA_FILE", "REDIS_MIN_REPLICAS_ACK"] {
        assert!(help.contains(listed), "{listed} in {help}");
    }
    assert!(!help.contains("hunter2"), "{help}");
}

/// A `whsec_` key that is not base64 stops ingest at start with one line
/// naming the variable and the key's place in the list, never the key; an
/// unpadded one is accepted, as the reference libraries accept it.
#[test]
fn a_whsec_key_that_is_not_base64_stops_ingest_without_printing_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("WEBHOOK_SECRET_KEY", "first-key,whsec_hunter2*secret")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .expect("ingest");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("WEBHOOK_SECRET_KEY") && stderr.contains("key 2"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("first-key"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// Numeric settings outside their range stop ingest at start instead of
/// starting a service that refuses everything (a body limit of 0 made every
/// webhook a 413).
#[test]
fn numeric_settings_out_of_range_stop_ingest() {
    for (variable, value, flag) in [
        ("WEBHOOK_MAX_BODY_BYTES", "0", "--max-body-bytes"),
        (
            "WEBHOOK_MAX_BATCH_BODY_BYTES",
            "10",
            "--max-batch-body-bytes",
        ),
        ("INGEST_HTTP_WORKERS", "0", "--http-workers"),
        ("WEBHOOK_RATE_BURST", "0", "--webhook-rate-burst"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
            .env("WEBHOOK_SECRET_KEY", "k")
            .env("REDIS_URL", "redis://127.0.0.1:1")
            .env(variable, value)
            .output()
            .expect("ingest");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value}: {stderr}"
        );
        assert!(stderr.contains(flag), "{variable}={value}: {stderr}");
    }
}

/// An operator's first scrape, before any webhook, lists every metric of
/// ingest with its help text, the counters at 0 (one series per rejection
/// reason), so an alert on `rate(…)` has a series from the start.
#[tokio::test]
async fn the_first_scrape_lists_every_metric_at_zero() {
    let stream = testkit::TestStream::create();
    let text = testkit::http::first_scrape(
        env!("CARGO_BIN_EXE_ingest"),
        &[
            ("WEBHOOK_SECRET_KEY", "k".to_owned()),
            ("REDIS_URL", stream.redis_url.clone()),
            ("CLICKS_QUEUE_NAME", stream.key.clone()),
        ],
        "INGEST_BIND",
    )
    .await;
    testkit::http::assert_registered(
        &text,
        &[
            "clicks_accepted_total",
            "clicks_rejected_total",
            "webhooks_replayed_total",
            "enqueue_duration_seconds",
            "enqueue_pipeline_entries",
            "http_requests_total",
            "http_request_duration_seconds",
        ],
        &[
            "clicks_accepted_total",
            "clicks_rejected_total{reason=\"signature\"}",
            "clicks_rejected_total{reason=\"invalid_item\"}",
            "clicks_rejected_total{reason=\"backlog\"}",
            "webhooks_replayed_total",
            "enqueue_duration_seconds_count",
        ],
    );
    stream.drop().await;
}

/// A start-up failure is one line on stderr and exit status 1, even with
/// `RUST_BACKTRACE` set: no backtrace, no `Caused by:` block.
#[test]
fn a_start_up_failure_is_one_line_even_with_backtraces_on() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("WEBHOOK_SECRET_KEY", "k")
        .env("REDIS_URL", "notaurl")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("ingest");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("ingest: REDIS_URL "), "{stderr}");
}
