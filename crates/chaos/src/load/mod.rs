//! The load generator: senders that post signed clicks to ingest, resend some
//! on purpose, retry what got no 2xx, and write everything in a [`Tally`].
//!
//! Each sender is one keep-alive connection (reopened when it breaks) that
//! sends one request at a time, like a webhook sender with a retry queue of
//! one: a request without a 2xx — no answer, a reset, a 503 — is sent again,
//! identical, until it is answered 2xx or the load is over and its grace
//! period has passed. Every request is bounded by a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use runkit::conn::{BATCH_PATH, HttpConn, SINGLE_PATH, Target};
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::clicks::{ClickKey, ClickNames, NARROW_SOURCES, source_of};
use crate::ledger::{Answer, RequestRecord, State, Tally};

/// The webhook senders the load signs as, both at ingest's address: the
/// narrow one may post only [`NARROW_SOURCES`] (a request whose clicks are
/// all of those goes as it), the broad one any source (everything else).
/// Ingest knows them from its keys file; a click posted by the wrong one
/// would be refused (403), so the suite's counts prove the split exact.
#[derive(Debug)]
pub struct Identities {
    pub narrow: Arc<Target>,
    pub broad: Arc<Target>,
}

impl Identities {
    /// One target for every request (the load's own tests).
    #[cfg(test)]
    pub fn single(target: Arc<Target>) -> Arc<Self> {
        Arc::new(Self {
            narrow: Arc::clone(&target),
            broad: target,
        })
    }

    /// The sender of a request carrying `keys`.
    fn for_request(&self, keys: &[ClickKey]) -> &Target {
        if keys
            .iter()
            .all(|key| NARROW_SOURCES.contains(&source_of(*key)))
        {
            &self.narrow
        } else {
            &self.broad
        }
    }
}

mod source;
#[cfg(test)]
mod tests;

use source::{Request, Source};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Between attempts once the load is over and only retries are left.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What the senders send.
#[derive(Debug, Clone)]
pub enum Workload {
    /// New clicks, each sender in its own namespace, with resends mixed in.
    Fresh {
        /// Share of requests that are batches of 2 to `batch_max` clicks.
        batch_share: f64,
        batch_max: u32,
        /// Share of requests that resend one of the sender's recent requests.
        resend_share: f64,
    },
    /// The same clicks, `rounds` times per sender, each round in a new
    /// order. Sender `i` sends batches of `batch_sizes[i % len]` (1: single
    /// requests).
    Fixed {
        keys: Arc<Vec<ClickKey>>,
        rounds: u32,
        batch_sizes: Vec<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub senders: usize,
    /// Requests per second, all senders together; 0: as fast as answered.
    pub rate: u64,
    pub workload: Workload,
    pub request_timeout: Duration,
    /// After the stop, how long requests without a 2xx are still retried.
    pub retry_grace: Duration,
    /// Keep a [`RequestRecord`] of every request (not for long runs).
    pub keep_records: bool,
    pub seed: u64,
}

/// A load in progress.
pub struct Load {
    tasks: JoinSet<Tally>,
    stop: CancellationToken,
    started: Instant,
    progress: Arc<Progress>,
    /// Tallies of senders that ran out of work.
    done: Tally,
    retry_grace: Duration,
    request_timeout: Duration,
}

/// Shared by the senders: when the newest request that got a 2xx was sent.
#[derive(Debug, Default)]
struct Progress {
    /// Milliseconds since the start, plus one (0: none yet).
    last_accepted_sent_ms: AtomicU64,
}

impl Load {
    pub fn start(identities: Arc<Identities>, names: ClickNames, plan: LoadPlan) -> Self {
        let started = Instant::now();
        let stop = CancellationToken::new();
        let progress = Arc::new(Progress::default());
        let senders = plan.senders.max(1);
        let mut tasks = JoinSet::new();
        for index in 0..senders {
            let period =
                (plan.rate > 0).then(|| Duration::from_secs_f64(senders as f64 / plan.rate as f64));
            let sender = Sender {
                identities: Arc::clone(&identities),
                names: names.clone(),
                source: Source::new(&plan.workload, index, plan.seed),
                conn: None,
                tally: Tally::default(),
                started,
                request_timeout: plan.request_timeout,
                retry_grace: plan.retry_grace,
                keep_records: plan.keep_records,
                progress: Arc::clone(&progress),
            };
            // Staggered, so the senders' requests spread over each period.
            let first = period.map(|p| started + p.mul_f64(index as f64 / senders as f64));
            tasks.spawn(sender.run(first, period, stop.clone()));
        }
        Self {
            tasks,
            stop,
            started,
            progress,
            done: Tally::default(),
            retry_grace: plan.retry_grace,
            request_timeout: plan.request_timeout,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the newest request answered 2xx was sent.
    pub fn last_accepted_sent(&self) -> Option<Instant> {
        match self.progress.last_accepted_sent_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.started + Duration::from_millis(ms - 1)),
        }
    }

    /// Waits until every sender has run out of work (fixed workloads end by
    /// themselves), at most `limit`; then as [`stop`](Self::stop).
    pub async fn complete(mut self, limit: Duration) -> anyhow::Result<Tally> {
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, self.tasks.join_next()).await
        {
            self.done.merge(joined?);
        }
        self.stop().await
    }

    /// Sends nothing new; requests still without a 2xx are retried for the
    /// plan's `retry_grace`, then given up. Returns the merged tally.
    pub async fn stop(mut self) -> anyhow::Result<Tally> {
        self.stop.cancel();
        let limit = self.retry_grace + self.request_timeout + CONNECT_TIMEOUT + RETRY_PAUSE;
        let deadline = tokio::time::Instant::now() + limit;
        let mut total = std::mem::take(&mut self.done);
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(joined)) => total.merge(joined?),
                Ok(None) => break,
                Err(_) => anyhow::bail!("the senders did not stop within {limit:?}"),
            }
        }
        total.records.sort_by_key(|record| record.sent);
        Ok(total)
    }
}

struct Sender {
    identities: Arc<Identities>,
    names: ClickNames,
    source: Source,
    conn: Option<HttpConn>,
    tally: Tally,
    started: Instant,
    request_timeout: Duration,
    retry_grace: Duration,
    keep_records: bool,
    progress: Arc<Progress>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    processed: u64,
    failed: u64,
}

impl Sender {
    async fn run(
        mut self,
        first: Option<Instant>,
        period: Option<Duration>,
        stop: CancellationToken,
    ) -> Tally {
        let mut ticks = period.map(|period| {
            let start = first.unwrap_or_else(Instant::now);
            let mut ticks = tokio::time::interval_at(start.into(), period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticks
        });
        let mut retry: Option<Request> = None;
        // Set when the load is stopped: retries end at this instant.
        let mut give_up: Option<tokio::time::Instant> = None;
        loop {
            if stop.is_cancelled() {
                // Nothing new after the stop: only the retry in hand, if any.
                if retry.is_none() {
                    break;
                }
                give_up.get_or_insert_with(|| tokio::time::Instant::now() + self.retry_grace);
            }
            match (&give_up, &mut ticks) {
                (Some(at), _) if tokio::time::Instant::now() >= *at => break,
                (Some(_), _) => tokio::time::sleep(RETRY_PAUSE).await,
                (None, Some(ticks)) => {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        () = stop.cancelled() => continue,
                    }
                }
                // Unpaced: retries still wait a little, new requests do not.
                (None, None) if retry.is_some() => {
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_PAUSE) => {}
                        () = stop.cancelled() => continue,
                    }
                }
                (None, None) => {}
            }
            let request = match retry.take() {
                Some(request) => {
                    self.tally.retries += 1;
                    request
                }
                None => match self.source.next(&self.names) {
                    Some(request) => request,
                    None => break,
                },
            };
            if !self.send(&request).await {
                retry = Some(request);
            }
        }
        self.tally
    }

    /// Sends one request; `true` when it was answered 2xx (no retry needed).
    async fn send(&mut self, request: &Request) -> bool {
        for key in &request.keys {
            self.tally.ledger.record(*key, State::Sent);
        }
        self.tally.clicks_sent += request.keys.len() as u64;
        self.tally.requests += 1;
        let sent = self.started.elapsed();
        let answer = self.exchange(request).await;
        let answered = self.started.elapsed();
        let (answer, accepted) = match answer {
            Some((status, body)) => (
                Answer::Status(status.as_u16()),
                status.is_success() && self.check_accepted(request, &body),
            ),
            None => (Answer::None, false),
        };
        self.tally.count_answer(answer);
        if self.keep_records {
            self.tally.records.push(RequestRecord {
                sent,
                answered,
                answer,
                keys: request.keys.clone(),
            });
        }
        if accepted {
            for key in &request.keys {
                self.tally.ledger.record(*key, State::Accepted);
            }
            self.tally.clicks_2xx += request.keys.len() as u64;
            let ms = sent.as_millis() as u64 + 1;
            self.progress
                .last_accepted_sent_ms
                .fetch_max(ms, Ordering::Relaxed);
        }
        accepted
    }

    /// A 2xx batch answer must have taken every click.
    fn check_accepted(&mut self, request: &Request, body: &Bytes) -> bool {
        if !request.batch {
            return true;
        }
        match serde_json::from_slice::<BatchAnswer>(body) {
            Ok(answer) if answer.processed == request.keys.len() as u64 && answer.failed == 0 => {
                true
            }
            Ok(answer) => {
                self.tally.batch_anomalies.push(format!(
                    "batch of {} answered 2xx with processed {} failed {}",
                    request.keys.len(),
                    answer.processed,
                    answer.failed
                ));
                false
            }
            Err(error) => {
                self.tally.batch_anomalies.push(format!(
                    "batch answered 2xx with an unreadable body: {error}"
                ));
                false
            }
        }
    }

    /// The status and body, or `None` when no answer came.
    async fn exchange(&mut self, request: &Request) -> Option<(StatusCode, Bytes)> {
        // Ingest closes the connection after some answers (an early 503):
        // open a new one rather than count a request that never left.
        if self.conn.as_ref().is_some_and(HttpConn::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                HttpConn::connect(self.identities.broad.addr),
            )
            .await
            {
                Ok(Ok(conn)) => self.conn = Some(conn),
                Ok(Err(_)) | Err(_) => {
                    // Refused (ingest is down): do not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    return None;
                }
            }
        }
        let path = if request.batch {
            BATCH_PATH
        } else {
            SINGLE_PATH
        };
        let http = self
            .identities
            .for_request(&request.keys)
            .signed_post(path, request.body.clone())
            .ok()?;
        let conn = self.conn.as_mut()?;
        match tokio::time::timeout(self.request_timeout, conn.send(http)).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(_)) | Err(_) => {
                // An HTTP/1.1 connection cannot be reused after this.
                self.conn = None;
                None
            }
        }
    }
}
