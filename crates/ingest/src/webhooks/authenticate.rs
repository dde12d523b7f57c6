//! What a webhook passes before its body is parsed: the client guard, the
//! backlog, size and content type, then the signature, which names the
//! sender, and the sender's rate.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use bytes::Bytes;
use domain::senders::{HEADER_SENDER, Sender};
use std::sync::Arc;

use super::WebhookState;
use crate::backlog::Admission;
use crate::error::WebhookError;
use crate::guard::Verdict;
use crate::replay::Timestamped;
use service_runtime::body::{self, BodyError};

/// The signature headers: `X-Signature`, or the Standard Webhooks trio.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct SignatureHeaders {
    /// The sender's name in the keys file: only its keys are tried (without it, every key is).
    #[param(rename = "X-Sender")]
    x_sender: Option<String>,
    /// sha256=<hex HMAC-SHA256 of the raw body keyed by WEBHOOK_SECRET_KEY>; required unless the Standard Webhooks headers are sent.
    #[param(rename = "X-Signature")]
    x_signature: Option<String>,
    /// Standard Webhooks message id; a repeat within the tolerance window is acknowledged and not enqueued again.
    #[param(rename = "webhook-id")]
    webhook_id: Option<String>,
    /// Standard Webhooks send time, Unix seconds; must be within WEBHOOK_TIMESTAMP_TOLERANCE_SECS of now.
    #[param(rename = "webhook-timestamp")]
    webhook_timestamp: Option<i64>,
    /// Standard Webhooks signatures: space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
    #[param(rename = "webhook-signature")]
    webhook_signature: Option<String>,
}

/// Reads the body within `limit` and checks its signature, which names its
/// sender; nothing is parsed before the signature has been verified.
/// Returns the body, the Standard Webhooks message id (as remembered) and
/// the sender.
pub(super) async fn authenticated_body(
    request: &HttpRequest,
    payload: web::Payload,
    state: &WebhookState,
    limit: usize,
) -> Result<(Bytes, Option<String>, Arc<Sender>), WebhookError> {
    let peer = request.peer_addr().map(|address| address.ip());
    let forwarded_for = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    match state.guard.judge(peer, forwarded_for) {
        Verdict::Pass => {}
        Verdict::Forbidden => return Err(WebhookError::Forbidden),
        Verdict::Limited { retry_after_secs } => {
            return Err(WebhookError::RateLimited { retry_after_secs });
        }
    }
    match state.backlog.admission() {
        Admission::Accept => {}
        Admission::Overloaded(backlog) => return Err(WebhookError::Overloaded { backlog }),
        Admission::RedisUnavailable => return Err(WebhookError::RedisUnavailable),
    }
    if body::declared_length(request).is_some_and(|length| length > limit) {
        return Err(WebhookError::TooLarge { limit });
    }
    if !body::is_json(request) {
        return Err(WebhookError::UnsupportedMediaType);
    }
    let body = tokio::time::timeout(state.body_timeout, body::read_limited(payload, limit))
        .await
        .map_err(|_| WebhookError::SlowBody)?
        .map_err(|error| match error {
            BodyError::TooLarge { limit } => WebhookError::TooLarge { limit },
            BodyError::Read(error) => WebhookError::BodyRead(error),
        })?;
    let registry = state.senders.current();
    let named = request
        .headers()
        .get(HEADER_SENDER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    let (message_id, sender) = match state.replay.check(request, &body, &registry.senders, named) {
        Timestamped::Verified(id, sender) => (Some(id), sender),
        Timestamped::Invalid(error) => {
            tracing::debug!(%error, "timestamped signature refused");
            return Err(WebhookError::InvalidSignature);
        }
        Timestamped::Absent if state.replay.require_timestamp => {
            return Err(WebhookError::InvalidSignature);
        }
        Timestamped::Absent => {
            let signature = request
                .headers()
                .get("x-signature")
                .map(header::HeaderValue::as_bytes);
            let sender = registry
                .senders
                .by_signature(named, signature, &body)
                .map_err(|_| WebhookError::InvalidSignature)?;
            (None, Arc::clone(sender))
        }
    };
    tracing::Span::current().record("sender", sender.name.as_str());
    registry
        .admit(&sender)
        .map_err(|retry_after_secs| WebhookError::RateLimited { retry_after_secs })?;
    Ok((body, message_id, sender))
}
