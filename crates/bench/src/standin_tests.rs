//! The load generator against a tiny stand-in webhook server (tests only):
//! it checks signatures with the real verifier and answers like ingest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::client::Shape;
use crate::conn::Target;
use crate::load::{ClosedLoop, Paced, Senders, closed_loop, paced};

const KEY: &str = "stand-in-key";

#[derive(Default)]
struct Seen {
    clicks: AtomicU64,
    bad_signatures: AtomicU64,
}

async fn answer(
    request: Request<Incoming>,
    seen: Arc<Seen>,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let verifier = domain::SignatureVerifier::from_key_list(KEY).expect("key");
    let path = request.uri().path().to_owned();
    let signature = request
        .headers()
        .get("x-signature")
        .map(|v| v.as_bytes().to_vec());
    let body = request.into_body().collect().await?.to_bytes();
    if verifier.verify(signature.as_deref(), &body).is_err() {
        seen.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return Ok(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Full::new(Bytes::from_static(
                b"{\"error\":\"Invalid signature\"}",
            )))?);
    }
    let answer = if path == "/api/webhook/clicks/batch" {
        let batch = domain::parse_batch(&body).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let n = batch.iter().filter(|click| click.is_ok()).count() as u64;
        let failed = batch.len() as u64 - n;
        seen.clicks.fetch_add(n, Ordering::Relaxed);
        format!(
            "{{\"status\":\"success\",\"processed\":{n},\"failed\":{failed},\"total\":{},\"errors\":[]}}",
            n + failed
        )
    } else {
        domain::parse_click(&body).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        seen.clicks.fetch_add(1, Ordering::Relaxed);
        "{\"status\":\"success\"}".to_owned()
    };
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::from(answer)))?)
}

async fn stand_in() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, Arc::clone(&seen)));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn senders(addr: SocketAddr, key: &str, connections: usize) -> Senders {
    Senders {
        target: Arc::new(Target::new(addr, key).expect("target")),
        run_id: "t".to_owned(),
        tag: "s".to_owned(),
        connections,
        request_timeout: Duration::from_secs(5),
        ids: Default::default(),
    }
}

#[tokio::test]
async fn closed_loop_stops_at_the_request_bound() {
    let (addr, seen) = stand_in().await;
    let plan = ClosedLoop {
        shape: Shape::Single,
        max_requests: 2_000,
        warmup: Duration::from_millis(100),
        duration: Duration::from_secs(20),
    };
    let outcome = closed_loop(&senders(addr, KEY, 8), plan)
        .await
        .expect("load");
    let tally = &outcome.tally;
    assert_eq!(tally.failures_text(), "0");
    assert_eq!(tally.measured_requests, 2_000);
    assert_eq!(tally.latencies.len(), 2_000);
    assert_eq!(tally.accepted_clicks, seen.clicks.load(Ordering::Relaxed));
    assert!(tally.accepted_clicks >= 2_000);
    assert_eq!(seen.bad_signatures.load(Ordering::Relaxed), 0);
    assert!(outcome.requests_per_second() > 0.0);
}

#[tokio::test]
async fn closed_loop_stops_at_the_time_bound_and_counts_refusals() {
    let (addr, seen) = stand_in().await;
    let plan = ClosedLoop {
        shape: Shape::Single,
        max_requests: u64::MAX,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
    };
    let started = std::time::Instant::now();
    let outcome = closed_loop(&senders(addr, "wrong-key", 4), plan)
        .await
        .expect("load");
    assert!(started.elapsed() < Duration::from_secs(3));
    let refused = outcome.tally.non_accepted.get(&401).copied().unwrap_or(0);
    assert!(refused > 0);
    assert_eq!(refused, outcome.tally.measured_requests);
    assert_eq!(outcome.tally.accepted_clicks, 0);
    assert_eq!(seen.clicks.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn batches_count_processed_clicks() {
    let (addr, seen) = stand_in().await;
    let plan = ClosedLoop {
        shape: Shape::Batch(1000),
        max_requests: 20,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(20),
    };
    let outcome = closed_loop(&senders(addr, KEY, 4), plan)
        .await
        .expect("load");
    assert_eq!(outcome.tally.failures_text(), "0");
    assert_eq!(outcome.tally.measured_clicks, 20_000);
    assert_eq!(seen.clicks.load(Ordering::Relaxed), 20_000);
}

#[tokio::test]
async fn paced_load_keeps_its_rate() {
    let (addr, _) = stand_in().await;
    let plan = Paced {
        shape: Shape::Single,
        rate: 500,
        duration: Duration::from_secs(1),
    };
    let outcome = paced(&senders(addr, KEY, 4), plan).await.expect("load");
    let sent = outcome.tally.measured_requests;
    assert!((400..=560).contains(&sent), "{sent}");
}

#[tokio::test]
async fn a_closed_port_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let plan = ClosedLoop {
        shape: Shape::Single,
        max_requests: 10,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    assert!(closed_loop(&senders(addr, KEY, 2), plan).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
