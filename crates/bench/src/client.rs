//! One webhook sender: a connection (reopened when it breaks), a click
//! generator and a reused body buffer. Every request it sends is tallied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::BytesMut;
use hyper::StatusCode;
use serde::Deserialize;

use crate::conn::{BATCH_PATH, HttpConn, SINGLE_PATH, Target};
use crate::payload::ClickGen;
use crate::stats::Tally;

/// A sender gives up after this many failed connection attempts in a row.
const MAX_CONNECT_FAILURES: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// What one request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Single,
    /// A batch of this many clicks (1–1000).
    Batch(u64),
}

/// How one request went.
#[derive(Debug, Clone, Copy)]
pub struct Fired {
    /// Clicks the answer accepted (0 unless 202).
    pub accepted: u64,
    /// When the request was handed to the connection.
    pub sent_at: Instant,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    processed: u64,
    #[serde(default)]
    failed: u64,
}

pub struct Sender {
    target: Arc<Target>,
    conn: Option<HttpConn>,
    generator: ClickGen,
    buf: BytesMut,
    request_timeout: Duration,
    connect_failures: u32,
    pub tally: Tally,
}

impl Sender {
    pub fn new(target: Arc<Target>, generator: ClickGen, request_timeout: Duration) -> Self {
        Self {
            target,
            conn: None,
            generator,
            buf: BytesMut::with_capacity(4096),
            request_timeout,
            connect_failures: 0,
            tally: Tally::default(),
        }
    }

    /// The `click_id` of the click sent last (single requests).
    pub fn last_click_id(&self) -> String {
        self.generator.last_click_id()
    }

    /// Sends one request. A `measured` one enters the latency figures.
    ///
    /// Fails only when the connection could not be opened several times in a
    /// row; any other trouble is tallied and the request reported as not
    /// accepted.
    pub async fn fire(&mut self, shape: Shape, measured: bool) -> anyhow::Result<Fired> {
        let sent_at = Instant::now();
        let none = Fired {
            accepted: 0,
            sent_at,
        };
        if !self.connect().await? {
            return Ok(none);
        }
        let (path, body) = match shape {
            Shape::Single => (SINGLE_PATH, self.generator.single(&mut self.buf)),
            Shape::Batch(count) => (BATCH_PATH, self.generator.batch(count, &mut self.buf)),
        };
        let request = self.target.signed_post(path, body)?;
        let Some(conn) = self.conn.as_mut() else {
            return Ok(none);
        };
        let sent_at = Instant::now();
        let answer = tokio::time::timeout(self.request_timeout, conn.send(request)).await;
        let latency = sent_at.elapsed();
        self.tally.sent_requests += 1;
        let (status, body) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                // Broken or stuck: an HTTP/1.1 connection cannot be reused now.
                self.conn = None;
                self.tally.errors += 1;
                return Ok(Fired {
                    accepted: 0,
                    sent_at,
                });
            }
        };
        let accepted = if status == StatusCode::ACCEPTED {
            match shape {
                Shape::Single => 1,
                Shape::Batch(_) => {
                    let answer: BatchAnswer =
                        serde_json::from_slice(&body).unwrap_or(BatchAnswer {
                            processed: 0,
                            failed: 0,
                        });
                    self.tally.failed_clicks += answer.failed;
                    answer.processed
                }
            }
        } else {
            *self.tally.non_accepted.entry(status.as_u16()).or_default() += 1;
            0
        };
        self.tally.accepted_clicks += accepted;
        if measured {
            self.tally.latencies.record(latency);
            self.tally.measured_requests += 1;
            self.tally.measured_clicks += accepted;
        }
        Ok(Fired { accepted, sent_at })
    }

    /// Keeps the connection open; `false` after a failed attempt.
    async fn connect(&mut self) -> anyhow::Result<bool> {
        if self.conn.is_none() {
            let addr = self.target.addr;
            match tokio::time::timeout(CONNECT_TIMEOUT, HttpConn::connect(addr)).await {
                Ok(Ok(conn)) => {
                    self.conn = Some(conn);
                    self.connect_failures = 0;
                }
                Ok(Err(_)) | Err(_) => {
                    self.connect_failures += 1;
                    self.tally.errors += 1;
                    if self.connect_failures >= MAX_CONNECT_FAILURES {
                        bail!(
                            "cannot connect to {addr} ({MAX_CONNECT_FAILURES} attempts in a row)"
                        );
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}
