//! `POST /api/webhook/clicks` and `POST /api/webhook/clicks/batch` (contract: Webhooks).
//!
//! Order of checks: size (413), content type (415), signature over the raw
//! bytes (401) — which names the sender —, the sender's rate (429), then
//! parsing (400), the sender's sources (403; per item in a batch), then the
//! stream (503 or 202).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use domain::senders::{HEADER_SENDER, Sender};
use domain::{Click, FieldErrors, StreamClick};
use serde::Serialize;
use std::sync::Arc;

use crate::backlog::{Admission, Backlog};
use crate::error::{ErrorBody, WebhookError};
use crate::guard::{ClientGuard, Verdict};
use crate::replay::{ReplayGuard, Timestamped};
use clickstream::{Enqueuer, Entry, Layout};
use service_runtime::body::{self, BodyError};
use service_runtime::metrics::Metric;

/// Clicks in the stream.
pub const CLICKS_ACCEPTED_TOTAL: &str = "clicks_accepted_total";
/// Requests or batch items refused, by `reason`.
pub const CLICKS_REJECTED_TOTAL: &str = "clicks_rejected_total";
/// Timestamped webhooks acknowledged as replays.
pub const WEBHOOKS_REPLAYED_TOTAL: &str = "webhooks_replayed_total";

/// ingest's own metrics (and the enqueuer's), registered at start.
pub const METRICS: &[Metric] = &[
    Metric::counter(CLICKS_ACCEPTED_TOTAL, "Clicks appended to the stream."),
    Metric::counter(
        CLICKS_REJECTED_TOTAL,
        "Requests or batch items refused, by reason.",
    )
    .by("reason", crate::error::REJECT_REASONS),
    Metric::counter(
        WEBHOOKS_REPLAYED_TOTAL,
        "Timestamped webhooks acknowledged as replays (not enqueued again).",
    ),
    Metric::histogram(
        clickstream::enqueue::ENQUEUE_DURATION_SECONDS,
        "Time for Redis to acknowledge one collection of pipelines.",
    ),
    Metric::histogram(
        clickstream::enqueue::ENQUEUE_PIPELINE_ENTRIES,
        "Clicks per collection written to Redis (one pipeline per shard, in packed entries).",
    ),
];

/// What the handlers share.
pub struct WebhookState {
    /// Who may post, with which keys and sources.
    pub senders: crate::senders::SenderSource,
    pub replay: ReplayGuard,
    pub guard: ClientGuard,
    pub backlog: Backlog,
    pub enqueuer: Enqueuer,
    /// Where each click's entry goes.
    pub layout: Layout,
    pub max_body_bytes: usize,
    /// Longest a client may take to send its body.
    pub body_timeout: std::time::Duration,
    pub max_batch_body_bytes: usize,
    /// `CLICKS_RETENTION_DAYS`: clicks of older UTC dates are refused.
    pub retention_days: Option<u32>,
}

impl WebhookState {
    /// The retention window as of now, when `CLICKS_RETENTION_DAYS` is set.
    fn retention(&self) -> Option<Retention> {
        let days = self.retention_days?;
        Some(Retention {
            days,
            first: domain::click::retention_first_kept(now().date_naive(), days),
        })
    }

    /// Enqueues `entries`, unless `message_id` (Standard Webhooks) was seen
    /// within the replay window: a replay is acknowledged, not enqueued again.
    async fn enqueue_once(
        &self,
        message_id: Option<&str>,
        sender: &Sender,
        entries: Vec<Entry>,
    ) -> Result<(), WebhookError> {
        if let Some(id) = message_id
            && self.replay.seen(id).await
        {
            tracing::info!(
                webhook_id = id,
                "replayed webhook acknowledged, not enqueued again"
            );
            metrics::counter!(WEBHOOKS_REPLAYED_TOTAL).increment(1);
            return Ok(());
        }
        let accepted = entries.len() as u64;
        self.enqueuer
            .enqueue(entries)
            .await
            .map_err(WebhookError::Unavailable)?;
        metrics::counter!(CLICKS_ACCEPTED_TOTAL).increment(accepted);
        metrics::counter!(
            crate::senders::SENDER_CLICKS_TOTAL,
            "sender" => sender.name.clone(),
            "result" => "accepted"
        )
        .increment(accepted);
        if let Some(id) = message_id {
            self.replay.remember(id).await;
        }
        Ok(())
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted<'a> {
    status: &'static str,
    message: &'static str,
    click_id: &'a str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BatchAccepted {
    status: &'static str,
    processed: usize,
    failed: usize,
    total: usize,
    errors: Vec<BatchItemError>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BatchItemError {
    index: usize,
    click_id: Option<String>,
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    details: domain::FieldErrors,
}

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

/// One signed click (contract: Webhooks).
#[utoipa::path(
    post,
    path = "/api/webhook/clicks",
    tag = "webhooks",
    request_body = crate::openapi::ClickPayload,
    params(SignatureHeaders),
    responses(
        (status = 202, description = "In the stream", body = Accepted),
        (status = 400, description = "Invalid payload structure", body = ErrorBody),
        (status = 401, description = "Invalid signature", body = ErrorBody),
        (status = 403, description = "Client not in WEBHOOK_ALLOWED_IPS, or a source the sender may not post (details.source)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 408, description = "Body not received within WEBHOOK_BODY_TIMEOUT_MS", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 429, description = "Over WEBHOOK_RATE_LIMIT for this client IP, or over the sender's rate_limit; Retry-After", body = ErrorBody),
        (status = 503, description = "Redis unavailable or backlogged; Retry-After", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "webhook_click", skip_all, fields(click_id = tracing::field::Empty, sender = tracing::field::Empty))]
pub async fn receive_click(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, WebhookError> {
    let (body, message_id, sender) =
        authenticated_body(&request, payload, &state, state.max_body_bytes).await?;
    let click = domain::parse_click(&body).map_err(WebhookError::InvalidPayload)?;
    tracing::Span::current().record("click_id", click.click_id.as_str());
    if let Some(details) = state.retention().and_then(|kept| kept.refuses(&click)) {
        return Err(WebhookError::InvalidPayload(details));
    }
    if let Some(details) = forbidden_source(&sender, &click.source) {
        return Err(WebhookError::SourceNotAllowed(details));
    }
    let received_at = now();
    let response = serde_json::to_vec(&Accepted {
        status: "success",
        message: "Click received and queued for processing",
        click_id: &click.click_id,
    })
    .unwrap_or_default();
    state
        .enqueue_once(
            message_id.as_deref(),
            &sender,
            vec![stream_entry(&state.layout, click, received_at)],
        )
        .await?;
    Ok(HttpResponse::Accepted()
        .content_type(mime_json())
        .body(response))
}

/// 1 to 1000 signed clicks; invalid ones are reported, valid ones enqueued (contract: Webhooks).
#[utoipa::path(
    post,
    path = "/api/webhook/clicks/batch",
    tag = "webhooks",
    request_body = crate::openapi::BatchPayload,
    params(SignatureHeaders),
    responses(
        (status = 202, description = "Valid clicks in the stream; per-item errors", body = BatchAccepted),
        (status = 400, description = "Invalid batch payload structure", body = ErrorBody),
        (status = 401, description = "Invalid signature", body = ErrorBody),
        (status = 403, description = "Client not in WEBHOOK_ALLOWED_IPS", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 408, description = "Body not received within WEBHOOK_BODY_TIMEOUT_MS", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 429, description = "Over WEBHOOK_RATE_LIMIT for this client IP, or over the sender's rate_limit; Retry-After", body = ErrorBody),
        (status = 503, description = "Redis unavailable or backlogged; Retry-After", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "webhook_batch", skip_all, fields(clicks = tracing::field::Empty, sender = tracing::field::Empty))]
pub async fn receive_batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, WebhookError> {
    let (body, message_id, sender) =
        authenticated_body(&request, payload, &state, state.max_batch_body_bytes).await?;
    let items = domain::parse_batch(&body).map_err(WebhookError::InvalidBatch)?;
    tracing::Span::current().record("clicks", items.len());
    let received_at = now();
    let total = items.len();
    let mut entries = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let mut forbidden = 0;
    let retention = state.retention();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Ok(click) => match (
                retention.as_ref().and_then(|kept| kept.refuses(&click)),
                forbidden_source(&sender, &click.source),
            ) {
                (None, None) => entries.push(stream_entry(&state.layout, click, received_at)),
                (Some(details), _) => errors.push(BatchItemError {
                    index,
                    click_id: Some(click.click_id),
                    details,
                }),
                (None, Some(details)) => {
                    forbidden += 1;
                    errors.push(BatchItemError {
                        index,
                        click_id: Some(click.click_id),
                        details,
                    });
                }
            },
            Err(invalid) => errors.push(BatchItemError {
                index,
                click_id: invalid.click_id,
                details: invalid.details,
            }),
        }
    }
    let processed = entries.len();
    if errors.len() > forbidden {
        metrics::counter!(CLICKS_REJECTED_TOTAL, "reason" => crate::error::INVALID_ITEM)
            .increment((errors.len() - forbidden) as u64);
    }
    if forbidden > 0 {
        metrics::counter!(CLICKS_REJECTED_TOTAL, "reason" => crate::error::SOURCE_NOT_ALLOWED)
            .increment(forbidden as u64);
    }
    state
        .enqueue_once(message_id.as_deref(), &sender, entries)
        .await?;
    Ok(HttpResponse::Accepted().json(BatchAccepted {
        status: "success",
        processed,
        failed: errors.len(),
        total,
        errors,
    }))
}

/// The oldest UTC date `CLICKS_RETENTION_DAYS` lets in, fixed for one request.
struct Retention {
    days: u32,
    first: chrono::NaiveDate,
}

impl Retention {
    /// Why `click` is older than the service keeps, or `None` when it is not.
    fn refuses(&self, click: &Click) -> Option<FieldErrors> {
        (click.date() < self.first).then(|| {
            FieldErrors::single(
                "timestamp",
                format!(
                    "The timestamp must not be before {} (the service keeps {} days of clicks).",
                    self.first, self.days
                ),
            )
        })
    }
}

/// Why `sender` may not post a click of `source`, or `None` when it may.
fn forbidden_source(sender: &Sender, source: &str) -> Option<FieldErrors> {
    if sender.allows(source) {
        return None;
    }
    metrics::counter!(
        crate::senders::SENDER_CLICKS_TOTAL,
        "sender" => sender.name.clone(),
        "result" => "forbidden"
    )
    .increment(1);
    tracing::info!(sender = %sender.name, source, "click refused: source not allowed for this sender");
    Some(FieldErrors::single(
        "source",
        format!(
            "The sender {} may not post clicks of this source.",
            sender.name
        ),
    ))
}

fn stream_entry(layout: &Layout, click: Click, received_at: DateTime<Utc>) -> Entry {
    Entry::new(layout, &StreamClick { click, received_at })
}

fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

fn mime_json() -> header::ContentType {
    header::ContentType::json()
}

/// Reads the body within `limit` and checks its signature, which names its
/// sender; nothing is parsed before the signature has been verified.
/// Returns the body, the Standard Webhooks message id (as remembered) and
/// the sender.
async fn authenticated_body(
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
