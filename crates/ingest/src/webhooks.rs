//! `POST /api/webhook/clicks` and `POST /api/webhook/clicks/batch` (contract: Webhooks).
//!
//! Order of checks: size (413), content type (415), signature over the raw
//! bytes (401) — which names the sender —, the sender's rate (429), then
//! parsing (400), the sender's sources (403; per item in a batch), then the
//! stream (503 or 202).
//!
//! The checks before parsing are in `authenticate`; a parsed click's
//! refusals (retention, the sender's sources) in `refusals`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::senders::Sender;
use domain::{Click, StreamClick};
use serde::Serialize;

use crate::backlog::Backlog;
use crate::error::{ErrorBody, WebhookError};
use crate::guard::ClientGuard;
use crate::replay::ReplayGuard;
use clickstream::{Enqueuer, Entry, Layout};
use service_runtime::metrics::Metric;

mod authenticate;
mod refusals;

use authenticate::{SignatureHeaders, authenticated_body};
use refusals::forbidden_source;

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
