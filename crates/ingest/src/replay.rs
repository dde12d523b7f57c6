//! Replay protection for senders that use the Standard Webhooks headers.
//!
//! A request carrying `webhook-signature` is verified with
//! `domain::standard_webhooks` (timestamp within the tolerance, either
//! direction). Its `webhook-id` is then remembered in Redis for twice the
//! tolerance (`clickstream::keyvalue`): a request whose id is already
//! there is a replay and is acknowledged (2xx) without being enqueued again.
//!
//! The id is remembered only *after* the click is in the stream. Setting it
//! first (`SET NX`) would turn a failed or interrupted enqueue into a lost
//! click, since the sender's retry would then look like a replay. The cost
//! of the chosen order is that two copies racing each other may both be
//! enqueued — which the worker's `click_id` dedupe absorbs.

use std::time::Duration;

use actix_web::HttpRequest;
use clickstream::{Conn, Layout};
use domain::senders::{IMPLICIT, Sender, SenderError, Senders};
use domain::standard_webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, StandardHeaders};
use std::sync::Arc;

/// How senders prove who they are.
#[derive(Clone)]
pub struct ReplayGuard {
    pub tolerance: Duration,
    /// Refuse requests without the timestamped headers.
    pub require_timestamp: bool,
    pub redis: Conn,
    pub layout: Layout,
}

/// The outcome of the timestamped scheme for one request.
pub enum Timestamped {
    /// No `webhook-signature`: the caller checks `X-Signature` instead.
    Absent,
    /// Verified: the message id, as remembered (see [`replay_id`]), and
    /// the sender.
    Verified(String, Arc<Sender>),
    Invalid(SenderError),
}

/// The id a message is remembered by: its `webhook-id`, within its
/// sender's own namespace (`<sender>/<id>`), so two senders' ids never
/// collide; the implicit sender's ids stay as they always were.
pub fn replay_id(sender: &Sender, id: &str) -> String {
    if sender.name == IMPLICIT {
        id.to_owned()
    } else {
        format!("{}/{id}", sender.name)
    }
}

impl ReplayGuard {
    /// Verifies the timestamped headers with `senders` (only `named`'s keys
    /// when the request names its sender).
    pub fn check(
        &self,
        request: &HttpRequest,
        body: &[u8],
        senders: &Senders,
        named: Option<&str>,
    ) -> Timestamped {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        if header(HEADER_SIGNATURE).is_none() {
            return Timestamped::Absent;
        }
        let headers = StandardHeaders {
            id: header(HEADER_ID),
            timestamp: header(HEADER_TIMESTAMP),
            signature: header(HEADER_SIGNATURE),
        };
        let now = chrono::Utc::now().timestamp();
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        match senders.by_standard(named, headers, body, now, tolerance) {
            Ok((id, sender)) => Timestamped::Verified(replay_id(sender, id), Arc::clone(sender)),
            Err(error) => Timestamped::Invalid(error),
        }
    }

    /// Whether the id was seen within the window. A Redis error counts as
    /// not seen: the worker's dedupe still keeps the count exact.
    pub async fn seen(&self, id: &str) -> bool {
        let mut redis = self.redis.clone();
        match clickstream::keyvalue::webhook_id_seen(&mut redis, &self.layout, id).await {
            Ok(seen) => seen,
            Err(error) => {
                tracing::warn!(%error, "cannot check webhook-id; treating it as new");
                false
            }
        }
    }

    /// Remembers an id whose clicks are in the stream.
    pub async fn remember(&self, id: &str) {
        let mut redis = self.redis.clone();
        let stored = clickstream::keyvalue::remember_webhook_id(
            &mut redis,
            &self.layout,
            id,
            self.tolerance * 2,
        )
        .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "cannot remember webhook-id");
        }
    }
}
