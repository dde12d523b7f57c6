//! Who may call, and how fast: per-IP rate limit, allowlist and proxies, slow clients.

use std::time::Duration;

use serde_json::json;

use super::{KEY, retry_after, spawn_with, valid_click};

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
            assert_eq!(retry_after(&headers), Some("1"));
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
