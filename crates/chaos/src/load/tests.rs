//! The load generator against a stand-in ingest that misbehaves on a script:
//! what the ledger says must be exactly what the stand-in accepted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runkit::conn::Target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Load, LoadPlan, Workload};
use crate::clicks::{ClickKey, ClickNames};
use crate::ledger::State;

/// How the stand-in answers its `n`th request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Accept,
    /// 503 with `connection: close`, as ingest answers when Redis is down.
    Unavailable,
    /// Closes the connection without an answer, as a killed ingest would.
    Hangup,
}

/// What the stand-in accepted: copies of each `click_id`.
type Accepted = Arc<Mutex<HashMap<String, u64>>>;

/// Requests the stand-in has read.
type Counter = Arc<AtomicU64>;

async fn stand_in(script: fn(u64) -> Reply) -> (SocketAddr, Accepted, Counter) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted: Accepted = Arc::default();
    let counter: Counter = Arc::default();
    let requests = Arc::clone(&counter);
    let record = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            let requests = Arc::clone(&requests);
            tokio::spawn(async move {
                let _ = serve(stream, script, &requests, &record).await;
            });
        }
    });
    (addr, accepted, counter)
}

async fn serve(
    mut stream: TcpStream,
    script: fn(u64) -> Reply,
    counter: &AtomicU64,
    accepted: &Accepted,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(body) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        let n = counter.fetch_add(1, Ordering::Relaxed);
        match script(n) {
            Reply::Hangup => return Ok(()),
            Reply::Unavailable => {
                let answer = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                stream.write_all(answer.as_bytes()).await?;
                return Ok(());
            }
            Reply::Accept => {
                let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
                let clicks = match json.get("clicks") {
                    Some(clicks) => clicks.as_array().cloned().unwrap_or_default(),
                    None => vec![json],
                };
                {
                    let mut accepted = accepted.lock().expect("lock");
                    for click in &clicks {
                        let id = click["click_id"].as_str().expect("click_id").to_owned();
                        *accepted.entry(id).or_default() += 1;
                    }
                }
                let reply = format!(r#"{{"processed":{},"failed":0}}"#, clicks.len());
                let answer = format!(
                    "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                    reply.len()
                );
                stream.write_all(answer.as_bytes()).await?;
            }
        }
    }
}

/// One request's body; `None` when the client closed the connection.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Ok(Some(body))
}

fn plan(senders: usize, workload: Workload, retry_grace: Duration) -> LoadPlan {
    LoadPlan {
        senders,
        rate: 0,
        workload,
        request_timeout: Duration::from_secs(2),
        retry_grace,
        keep_records: true,
        seed: 7,
    }
}

fn target(addr: SocketAddr) -> Arc<super::Identities> {
    super::Identities::single(Arc::new(Target::new(addr, "test-key").expect("target")))
}

#[tokio::test]
async fn what_got_no_2xx_is_retried_and_the_ledger_matches_what_was_accepted() {
    // Every third request is accepted; the others get a 503 or no answer.
    let (addr, accepted, _) = stand_in(|n| match n % 3 {
        0 => Reply::Hangup,
        1 => Reply::Unavailable,
        _ => Reply::Accept,
    })
    .await;
    let names = ClickNames::new("loadtest", 1);
    let workload = Workload::Fresh {
        batch_share: 0.3,
        batch_max: 5,
        resend_share: 0.2,
    };
    let load = Load::start(
        target(addr),
        names.clone(),
        plan(2, workload, Duration::from_secs(5)),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tally = load.stop().await.expect("senders stop");

    assert!(tally.retries > 0);
    assert!(
        tally.answers.get("503").is_some_and(|n| *n > 0),
        "{:?}",
        tally.answers
    );
    assert!(
        tally.answers.get("no answer").is_some_and(|n| *n > 0),
        "{:?}",
        tally.answers
    );
    assert!(
        tally.batch_anomalies.is_empty(),
        "{:?}",
        tally.batch_anomalies
    );
    let accepted = accepted.lock().expect("lock").clone();
    let mut copies = 0;
    for (key, state) in tally.ledger.sent() {
        // The grace period was long enough for every retry to get through.
        assert_eq!(state, State::Accepted, "{key:?}");
        let id = names.click_id(key);
        copies += accepted
            .get(&id)
            .copied()
            .unwrap_or_else(|| panic!("{id} not accepted"));
    }
    assert_eq!(accepted.len(), tally.ledger.sent().count());
    assert_eq!(copies, tally.clicks_2xx);
    assert!(
        tally.clicks_2xx > accepted.len() as u64,
        "resends were sent"
    );
    assert_eq!(tally.records.len() as u64, tally.requests);
}

#[tokio::test]
async fn a_fixed_workload_sends_each_click_once_per_round_and_sender() {
    let (addr, accepted, _) = stand_in(|_| Reply::Accept).await;
    let names = ClickNames::new("loadtest", 7);
    let keys: Vec<ClickKey> = (0..10).map(|seq| ClickKey { namespace: 0, seq }).collect();
    let workload = Workload::Fixed {
        keys: Arc::new(keys),
        rounds: 3,
        batch_sizes: vec![1, 4],
    };
    let load = Load::start(target(addr), names, plan(2, workload, Duration::ZERO));
    let tally = load
        .complete(Duration::from_secs(10))
        .await
        .expect("the senders finish");
    let accepted = accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), 10);
    assert!(accepted.values().all(|copies| *copies == 6), "{accepted:?}");
    assert_eq!(tally.clicks_sent, 60);
    assert_eq!(tally.clicks_2xx, 60);
    // 3 rounds of 10 singles, 3 rounds of batches of 4, 4 and 2.
    assert_eq!(tally.requests, 30 + 9);
}

fn one_click_at_a_time() -> Workload {
    Workload::Fresh {
        batch_share: 0.0,
        batch_max: 2,
        resend_share: 0.0,
    }
}

#[tokio::test]
async fn after_the_stop_a_sender_only_finishes_the_retry_in_hand() {
    // The first request gets a 503; its retry, after the stop, goes through.
    let (addr, accepted, requests) = stand_in(|n| {
        if n == 0 {
            Reply::Unavailable
        } else {
            Reply::Accept
        }
    })
    .await;
    let load = Load::start(
        target(addr),
        ClickNames::new("loadtest", 3),
        plan(1, one_click_at_a_time(), Duration::from_secs(5)),
    );
    // Stop once the first request was read: its retry waits a little first.
    while requests.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let tally = load.stop().await.expect("senders stop");
    let sent: Vec<_> = tally.ledger.sent().collect();
    assert_eq!(
        sent,
        vec![(
            ClickKey {
                namespace: 0,
                seq: 0
            },
            State::Accepted
        )]
    );
    assert_eq!(accepted.lock().expect("lock").len(), 1);
    assert_eq!((tally.requests, tally.retries), (2, 1));
}

#[tokio::test]
async fn after_the_stop_unanswered_requests_are_given_up_and_nothing_new_is_sent() {
    let (addr, accepted, _) = stand_in(|_| Reply::Unavailable).await;
    let load = Load::start(
        target(addr),
        ClickNames::new("loadtest", 2),
        plan(1, one_click_at_a_time(), Duration::from_millis(300)),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tally = load.stop().await.expect("senders stop");
    assert!(accepted.lock().expect("lock").is_empty());
    // One click, retried until the grace period ran out: never a second one.
    let sent: Vec<_> = tally.ledger.sent().collect();
    assert_eq!(
        sent,
        vec![(
            ClickKey {
                namespace: 0,
                seq: 0
            },
            State::Sent
        )]
    );
    assert_eq!(tally.requests, tally.retries + 1);
}
