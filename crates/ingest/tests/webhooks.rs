//! The webhook contract (contract: Webhooks) against a real Redis, one stream per test.

use std::time::Duration;

use clap::Parser;
use ingest::{Application, Settings};
use serde_json::{Value, json};
use testkit::TestStream;
use testkit::metrics::{metric, scrape};
use tokio_util::sync::CancellationToken;

const KEY: &str = "test-secret";

struct TestApp {
    base: String,
    client: reqwest::Client,
    stream: TestStream,
    shutdown: CancellationToken,
}

async fn spawn_with(extra: &[&str], redis_url: Option<&str>) -> TestApp {
    let stream = TestStream::create();
    let redis_url = redis_url.unwrap_or(&stream.redis_url).to_owned();
    let mut args = vec![
        "ingest".to_owned(),
        format!("--webhook-secret-key={KEY}"),
        format!("--redis-url={redis_url}"),
        format!("--clicks-queue-name={}", stream.key),
        "--ingest-bind=127.0.0.1:0".to_owned(),
        "--http-workers=2".to_owned(),
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
    TestApp {
        base,
        client: reqwest::Client::new(),
        stream,
        shutdown,
    }
}

async fn spawn() -> TestApp {
    spawn_with(&[], None).await
}

fn valid_click(id: &str) -> Value {
    json!({
        "click_id": id,
        "offer_id": 12345,
        "source": "network_1",
        "timestamp": "2025-06-11T14:00:00Z",
        "signature": "sender-sig",
    })
}

impl TestApp {
    async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        signature: Option<String>,
        content_type: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// Posts `bytes` as JSON, signed with `key`.
    async fn post_bytes_signed_by(
        &self,
        key: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let signature = domain::sign(key.as_bytes(), &bytes);
        self.post_raw(path, bytes, Some(signature), "application/json")
            .await
    }

    /// Posts `body` signed with `KEY`, with extra headers; the raw response.
    async fn post_signed_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).expect("json");
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("x-signature", domain::sign(KEY.as_bytes(), &bytes));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(bytes).send().await.expect("post")
    }

    async fn post_signed(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let (status, body, _) = self.post_bytes_signed_by(KEY, path, bytes).await;
        (status, body)
    }

    async fn entries(&self) -> Vec<domain::StreamClick> {
        let mut conn = self.stream.conn().await;
        clickstream::inspect::entries(&mut conn, &self.stream.key)
            .await
            .expect("xrange")
            .iter()
            .flat_map(|entry| {
                domain::stream_entry::decode_entry(&entry.fields).expect("decodable entry")
            })
            .collect()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.stream.drop().await;
    }
}

#[tokio::test]
async fn a_signed_click_is_accepted_and_enqueued() {
    let app = spawn().await;
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("c-1"))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"status":"success","message":"Click received and queued for processing","click_id":"c-1"})
    );
    let entries = app.entries().await;
    assert_eq!(entries.len(), 1);
    let click = &entries[0].click;
    assert_eq!(click.click_id, "c-1");
    assert_eq!(click.offer_id.get(), 12345);
    assert_eq!(click.source, "network_1");
    assert_eq!(click.timestamp_rfc3339(), "2025-06-11T14:00:00.000000Z");
    assert_eq!(click.signature, "sender-sig");
    app.stop().await;
}

#[tokio::test]
async fn the_exact_response_bytes_match_the_old_service() {
    let app = spawn().await;
    let body = serde_json::to_vec(&valid_click("bytes")).expect("json");
    let signature = domain::sign(KEY.as_bytes(), &body);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "x-signature",
            signature.to_uppercase().replace("SHA256=", "sha256="),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        response.text().await.expect("text"),
        r#"{"status":"success","message":"Click received and queued for processing","click_id":"bytes"}"#
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_signatures_are_401_and_nothing_is_enqueued() {
    let app = spawn().await;
    let body = serde_json::to_vec(&valid_click("c-2")).expect("json");
    let wrong = domain::sign(b"another-key", &body);
    let good = domain::sign(KEY.as_bytes(), &body);
    let cases = [
        None,
        Some(wrong),
        Some("sha256=xyz".to_owned()),
        Some(good.replace("sha256=", "md5=")),
    ];
    for signature in cases {
        let (status, response, _) = app
            .post_raw(
                "/api/webhook/clicks",
                body.clone(),
                signature.clone(),
                "application/json",
            )
            .await;
        assert_eq!(status, 401, "{signature:?}");
        assert_eq!(response, json!({"error": "Invalid signature"}));
    }
    // A body that is not even JSON still gets 401 first: the signature is checked before parsing.
    let (status, _, _) = app
        .post_raw(
            "/api/webhook/clicks",
            b"not json".to_vec(),
            Some("sha256=00".to_owned()),
            "application/json",
        )
        .await;
    assert_eq!(status, 401);
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn every_key_of_a_rotation_is_accepted() {
    let stream_app = spawn_with(&["--webhook-secret-key=old-key,new-key"], None).await;
    for key in ["old-key", "new-key"] {
        let (status, _, _) = stream_app
            .post_bytes_signed_by(
                key,
                "/api/webhook/clicks",
                serde_json::to_vec(&valid_click(key)).expect("json"),
            )
            .await;
        assert_eq!(status, 202, "{key}");
    }
    let (status, _, _) = stream_app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("x")).expect("json"),
        )
        .await;
    assert_eq!(
        status, 401,
        "the key given first on the command line was replaced"
    );
    assert_eq!(stream_app.entries().await.len(), 2);
    stream_app.stop().await;
}

#[tokio::test]
async fn invalid_clicks_are_400_with_details_per_field() {
    let app = spawn().await;
    let mut click = valid_click("c-3");
    click["offer_id"] = json!(-1);
    click["timestamp"] = json!("yesterday");
    let (status, body) = app.post_signed("/api/webhook/clicks", &click).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid payload structure");
    assert_eq!(
        body["details"]["offer_id"][0],
        "The offer_id field must be at least 1."
    );
    assert!(
        body["details"]["timestamp"][0]
            .as_str()
            .expect("reason")
            .contains("RFC 3339")
    );
    let (status, body, _) = app
        .post_bytes_signed_by(KEY, "/api/webhook/clicks", b"{not json".to_vec())
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid payload structure");
    assert!(
        body["details"]["body"][0]
            .as_str()
            .expect("reason")
            .contains("valid JSON")
    );
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_and_wrong_content_types_415() {
    let app = spawn_with(&["--max-body-bytes=1024"], None).await;
    let mut click = valid_click("big");
    click["padding"] = json!("x".repeat(2000));
    let (status, body, _) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&click).expect("json"),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "Payload too large");
    let small = serde_json::to_vec(&valid_click("form")).expect("json");
    let signature = domain::sign(KEY.as_bytes(), &small);
    let (status, body, _) = app
        .post_raw(
            "/api/webhook/clicks",
            small,
            Some(signature),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(status, 415);
    assert_eq!(body["error"], "Unsupported media type");
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_batch_enqueues_the_valid_clicks_and_reports_the_rest() {
    let app = spawn().await;
    let mut bad = valid_click("bad-1");
    bad["source"] = json!("");
    let batch =
        json!({"clicks": [valid_click("b-1"), bad, 42, valid_click("b-2"), valid_click("b-1")]});
    let (status, body) = app.post_signed("/api/webhook/clicks/batch", &batch).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "success");
    assert_eq!(body["processed"], 3);
    assert_eq!(body["failed"], 2);
    assert_eq!(body["total"], 5);
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["click_id"], "bad-1");
    assert_eq!(
        body["errors"][0]["details"]["source"][0],
        "The source field is required."
    );
    assert_eq!(body["errors"][1]["index"], 2);
    assert_eq!(body["errors"][1]["click_id"], Value::Null);
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(
        ids,
        ["b-1", "b-2", "b-1"],
        "duplicates are left to the worker's dedupe"
    );
    app.stop().await;
}

#[tokio::test]
async fn unusable_batches_are_400() {
    let app = spawn().await;
    let cases = [
        json!({}),
        json!({"clicks": "nope"}),
        json!({"clicks": []}),
        json!({"clicks": vec![valid_click("x"); 1001]}),
    ];
    for batch in cases {
        let (status, body) = app.post_signed("/api/webhook/clicks/batch", &batch).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "Invalid batch payload structure");
        assert!(body["details"]["clicks"].is_array(), "{body}");
    }
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn concurrent_requests_are_each_answered_after_their_own_entries() {
    let app = spawn().await;
    let requests = (0..300).map(|n| {
        let app = &app;
        async move {
            app.post_signed("/api/webhook/clicks", &valid_click(&format!("p-{n}")))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 202));
    let mut ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..300).map(|n| format!("p-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
    app.stop().await;
}

#[tokio::test]
async fn without_redis_webhooks_are_503_and_health_is_unhealthy() {
    // Nothing listens on port 1.
    let app = spawn_with(&[], Some("redis://127.0.0.1:1")).await;
    let (status, body, headers) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("lost")).expect("json"),
        )
        .await;
    assert_eq!(status, 503);
    assert!(body["error"].is_string());
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let health = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 503);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["checks"]["redis"]["status"], "down");
    app.stop().await;
}

#[tokio::test]
async fn health_unknown_paths_and_methods() {
    let app = spawn().await;
    let health = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "ingest");
    assert!(health["timestamp"].is_string());
    let missing = app
        .client
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status().as_u16(), 404);
    let wrong = app
        .client
        .get(format!("{}/api/webhook/clicks", app.base))
        .send()
        .await
        .expect("405");
    assert_eq!(wrong.status().as_u16(), 405);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_and_stops() {
    let app = spawn().await;
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("last"))
        .await;
    assert_eq!(status, 202);
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await;
    assert!(refused.is_err(), "no longer accepting after shutdown");
    app.stream.drop().await;
}

#[tokio::test]
async fn a_backlog_over_the_limit_answers_503_until_it_drains() {
    let app = spawn_with(&["--stream-max-backlog=5"], None).await;
    let mut conn = app.stream.conn().await;
    let names = clickstream::StreamNames {
        stream: app.stream.key.clone(),
        group: clickstream::DEFAULT_GROUP.to_owned(),
        consumer: "test-consumer".to_owned(),
    };
    clickstream::consumer::ensure_group(&mut conn, &names)
        .await
        .expect("group");
    let get_status = |path: &'static str| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.get(url).send().await.expect("get").status().as_u16() }
    };
    // Let the monitor take its first measurement.
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 2).await;
    assert_eq!(get_status("/readyz").await, 200);
    for n in 0..5 {
        let (status, _) = app
            .post_signed("/api/webhook/clicks", &valid_click(&format!("b-{n}")))
            .await;
        assert_eq!(status, 202);
    }
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 3).await;
    assert_eq!(
        get_status("/readyz").await,
        503,
        "readiness turns false first"
    );
    assert_eq!(
        get_status("/livez").await,
        200,
        "liveness never depends on the backlog"
    );
    let (status, body, headers) = app
        .post_bytes_signed_by(
            KEY,
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("over")).expect("json"),
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "Service temporarily unavailable");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let health = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 503);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["checks"]["backlog"]["entries"], 5);

    // A consumer takes and acknowledges everything: ingest recovers by itself.
    let entries = clickstream::consumer::read_group(&mut conn, &names, ">", 100, None)
        .await
        .expect("read");
    let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "the 503 enqueued nothing");
    clickstream::consumer::ack(&mut conn, &names, &ids)
        .await
        .expect("ack");
    tokio::time::sleep(ingest::backlog::POLL_EVERY * 3).await;
    assert_eq!(get_status("/readyz").await, 200);
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("after"))
        .await;
    assert_eq!(status, 202);
    drop(conn);
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn().await;
    let response = app
        .post_signed_with(
            "/api/webhook/clicks",
            &valid_click("rid"),
            &[("x-request-id", "sender-42")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("sender-42")
    );
    let response = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await
        .expect("health");
    let generated = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a generated id");
    assert_eq!(generated.len(), 32);
    app.stop().await;
}

#[tokio::test]
async fn each_client_ip_is_rate_limited_with_retry_after() {
    let app = spawn_with(&["--webhook-rate-limit=1", "--webhook-rate-burst=2"], None).await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let (status, body, headers) = app
            .post_bytes_signed_by(
                KEY,
                "/api/webhook/clicks",
                serde_json::to_vec(&valid_click(&format!("rl-{n}"))).expect("json"),
            )
            .await;
        if status == 429 {
            assert_eq!(body["error"], "Too many requests");
            assert_eq!(
                headers.get("retry-after").and_then(|v| v.to_str().ok()),
                Some("1")
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 202, 429]);
    assert_eq!(app.entries().await.len(), 2, "a 429 enqueues nothing");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("rl-later"))
        .await;
    assert_eq!(status, 202, "the bucket refills");
    app.stop().await;
}

#[tokio::test]
async fn the_allowlist_and_trusted_proxies() {
    // Only 10.0.0.0/8 may call; the test client is 127.0.0.1.
    let app = spawn_with(&["--webhook-allowed-ips=10.0.0.0/8, 2001:db8::/32"], None).await;
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("deny"))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"error": "Forbidden"}));
    // X-Forwarded-For from an untrusted peer changes nothing.
    let response = app
        .post_signed_with(
            "/api/webhook/clicks",
            &valid_click("spoof"),
            &[("x-forwarded-for", "10.1.2.3")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    app.stop().await;

    // Behind a trusted proxy (here: the loopback peer) the forwarded address counts.
    let app = spawn_with(
        &[
            "--webhook-allowed-ips=10.0.0.0/8",
            "--trusted-proxies=127.0.0.0/8",
        ],
        None,
    )
    .await;
    for (forwarded, expected) in [
        ("10.1.2.3", 202),
        ("192.0.2.1", 403),
        ("10.1.2.3, 192.0.2.1", 403),
    ] {
        let response = app
            .post_signed_with(
                "/api/webhook/clicks",
                &valid_click(&format!("via-{forwarded}")),
                &[("x-forwarded-for", forwarded)],
            )
            .await;
        assert_eq!(
            response.status().as_u16(),
            expected,
            "X-Forwarded-For: {forwarded}"
        );
    }
    assert_eq!(app.entries().await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_with(&["--header-timeout-ms=300", "--body-timeout-ms=300"], None).await;
    let address = app.base.trim_start_matches("http://").to_owned();

    // Headers sent, body promised but never finished: 408.
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /api/webhook/clicks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Signature: sha256=00\r\n\r\n{\"click_id\":")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server answered and closed within its timeout"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Headers never finished: the connection is closed (with a 408) within the timeout.
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /api/webhook/clicks HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the slow connection");
    assert!(app.entries().await.is_empty());
    app.stop().await;
}

/// Posts `body` with the Standard Webhooks headers signed by `key`.
async fn post_timestamped(
    app: &TestApp,
    key: &str,
    id: &str,
    timestamp: i64,
    body: &Value,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).expect("json");
    let signature = domain::standard_webhooks::sign(key.as_bytes(), id, timestamp, &bytes);
    let response = app
        .client
        .post(format!("{}/api/webhook/clicks", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(bytes)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn timestamped_signatures_refuse_stale_future_and_replayed_requests() {
    let app = spawn_with(
        &[
            "--webhook-secret-key=old-key,new-key",
            "--webhook-timestamp-tolerance-secs=60",
        ],
        None,
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    // Valid, with either key of the rotation.
    let (status, body) =
        post_timestamped(&app, "new-key", "msg-1", now, &valid_click("ts-1")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["click_id"], "ts-1");
    let (status, _) = post_timestamped(&app, "old-key", "msg-2", now, &valid_click("ts-2")).await;
    assert_eq!(status, 202);
    // The same message again: acknowledged, not enqueued again.
    let (status, body) =
        post_timestamped(&app, "new-key", "msg-1", now, &valid_click("ts-1")).await;
    assert_eq!(status, 202);
    assert_eq!(body["status"], "success");
    // Stale, from the future, or signed with another key: 401.
    for (timestamp, key) in [
        (now - 120, "new-key"),
        (now + 120, "new-key"),
        (now, "stranger"),
    ] {
        let (status, body) =
            post_timestamped(&app, key, "msg-3", timestamp, &valid_click("ts-3")).await;
        assert_eq!(status, 401, "{timestamp} {key}");
        assert_eq!(body, json!({"error": "Invalid signature"}));
    }
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(
        ids,
        ["ts-1", "ts-2"],
        "the replay and the refused requests enqueued nothing"
    );
    // X-Signature alone is still accepted while timestamps are optional.
    let (status, _, _) = app
        .post_bytes_signed_by(
            "new-key",
            "/api/webhook/clicks",
            serde_json::to_vec(&valid_click("plain")).expect("json"),
        )
        .await;
    assert_eq!(status, 202);
    app.stop().await;
}

#[tokio::test]
async fn timestamps_can_be_made_mandatory() {
    let app = spawn_with(&["--webhook-require-timestamp=true"], None).await;
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("plain"))
        .await;
    assert_eq!(status, 401, "X-Signature alone is refused");
    assert_eq!(body, json!({"error": "Invalid signature"}));
    let now = chrono::Utc::now().timestamp();
    let (status, _) = post_timestamped(&app, KEY, "msg-x", now, &valid_click("stamped")).await;
    assert_eq!(status, 202);
    assert_eq!(app.entries().await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_exposed_and_move() {
    let app = spawn().await;
    let url = format!("{}/metrics", app.base);
    let before = scrape(&url).await;
    let (status, _) = app
        .post_signed("/api/webhook/clicks", &valid_click("m-1"))
        .await;
    assert_eq!(status, 202);
    let (status, _, _) = app
        .post_raw(
            "/api/webhook/clicks",
            b"{}".to_vec(),
            None,
            "application/json",
        )
        .await;
    assert_eq!(status, 401);
    let after = scrape(&url).await;
    assert!(
        metric(&after, "clicks_accepted_total", &[])
            >= metric(&before, "clicks_accepted_total", &[]) + 1.0
    );
    assert!(
        metric(&after, "clicks_rejected_total", &[])
            >= metric(&before, "clicks_rejected_total", &[]) + 1.0
    );
    assert!(after.contains("reason=\"signature\""), "{after}");
    assert!(after.contains("http_requests_total{"), "{after}");
    assert!(after.contains("route=\"/api/webhook/clicks\""));
    assert!(after.contains("http_request_duration_seconds"));
    assert!(after.contains("enqueue_duration_seconds"));
    app.stop().await;
}

#[tokio::test]
async fn clicks_older_than_the_retention_are_refused() {
    let app = spawn_with(&["--clicks-retention-days=30"], None).await;
    let mut recent = valid_click("recent");
    recent["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    let (status, body) = app.post_signed("/api/webhook/clicks", &recent).await;
    assert_eq!(status, 202, "{body}");
    // valid_click is dated 2025-06-11: long before the 30 days kept.
    let (status, body) = app
        .post_signed("/api/webhook/clicks", &valid_click("old"))
        .await;
    assert_eq!(status, 400, "{body}");
    let reason = body["details"]["timestamp"][0].as_str().expect("reason");
    assert!(reason.contains("keeps 30 days of clicks"), "{reason}");
    let mut also_recent = valid_click("recent-2");
    also_recent["timestamp"] = recent["timestamp"].clone();
    let (status, body) = app
        .post_signed(
            "/api/webhook/clicks/batch",
            &json!({"clicks": [valid_click("old-2"), also_recent]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["processed"].as_u64(), body["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(body["errors"][0]["index"], 0);
    assert!(
        body["errors"][0]["details"]["timestamp"].is_array(),
        "{body}"
    );
    let ids: Vec<String> = app
        .entries()
        .await
        .into_iter()
        .map(|e| e.click.click_id)
        .collect();
    assert_eq!(ids, ["recent", "recent-2"]);
    app.stop().await;
}
