//! Every way a webhook can fail, and the one place each maps to HTTP.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::FieldErrors;
use serde::Serialize;

use clickstream::EnqueueError;

/// Seconds a client is asked to wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid signature")]
    InvalidSignature,
    #[error("invalid payload")]
    InvalidPayload(FieldErrors),
    #[error("invalid batch payload")]
    InvalidBatch(FieldErrors),
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("content type is not application/json")]
    UnsupportedMediaType,
    #[error("the request body could not be read")]
    BodyRead(#[source] actix_web::error::PayloadError),
    #[error("the clicks could not be enqueued")]
    Unavailable(#[source] EnqueueError),
    #[error("the workers are {backlog} entries behind")]
    Overloaded { backlog: u64 },
    #[error("redis is unreachable")]
    RedisUnavailable,
    #[error("the body did not arrive in time")]
    SlowBody,
    #[error("the client is not on the allowlist")]
    Forbidden,
    #[error("the client is over its rate")]
    RateLimited { retry_after_secs: u64 },
    /// The sender may not post the click's source (details name the field).
    #[error("the sender may not post this source")]
    SourceNotAllowed(FieldErrors),
}

/// The error body of the contract: `{"error": …, "details": {…}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(example = "Invalid signature")]
    pub error: &'a str,
    /// Reasons per field: `{"<field>": ["<reason>", …]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub details: Option<&'a FieldErrors>,
}

impl ErrorBody<'_> {
    pub fn response(
        status: StatusCode,
        error: &str,
        details: Option<&FieldErrors>,
    ) -> HttpResponse {
        HttpResponse::build(status).json(ErrorBody { error, details })
    }
}

/// The `reason` of a batch item refused while the rest of its batch went in.
pub const INVALID_ITEM: &str = "invalid_item";

/// Every `reason` label of the rejection counter, created at zero at start.
pub const REJECT_REASONS: &[&str] = &[
    "signature",
    "payload",
    "too_large",
    "media_type",
    "redis",
    "backlog",
    "slow_body",
    "forbidden",
    "rate_limited",
    SOURCE_NOT_ALLOWED,
    INVALID_ITEM,
];

/// The `reason` of a click whose sender may not post its source.
pub const SOURCE_NOT_ALLOWED: &str = "source_not_allowed";

impl WebhookError {
    /// The `reason` label of the rejection counter (one of [`REJECT_REASONS`]).
    fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSignature => "signature",
            Self::InvalidPayload(_) | Self::InvalidBatch(_) | Self::BodyRead(_) => "payload",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMediaType => "media_type",
            Self::Unavailable(_) | Self::RedisUnavailable => "redis",
            Self::Overloaded { .. } => "backlog",
            Self::SlowBody => "slow_body",
            Self::Forbidden => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::SourceNotAllowed(_) => SOURCE_NOT_ALLOWED,
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::InvalidPayload(_) | Self::InvalidBatch(_) | Self::BodyRead(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden | Self::SourceNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::SlowBody => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) | Self::Overloaded { .. } | Self::RedisUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        metrics::counter!(crate::webhooks::CLICKS_REJECTED_TOTAL, "reason" => self.reason())
            .increment(1);
        let (message, details) = match self {
            Self::InvalidSignature => ("Invalid signature", None),
            Self::InvalidPayload(details) => ("Invalid payload structure", Some(details.clone())),
            Self::InvalidBatch(details) => {
                ("Invalid batch payload structure", Some(details.clone()))
            }
            Self::TooLarge { limit } => (
                "Payload too large",
                Some(FieldErrors::single(
                    "body",
                    format!("The request body must not be larger than {limit} bytes."),
                )),
            ),
            Self::UnsupportedMediaType => (
                "Unsupported media type",
                Some(FieldErrors::single(
                    "content_type",
                    "The Content-Type header must be application/json.",
                )),
            ),
            Self::BodyRead(_) => ("Invalid payload structure", None),
            Self::Unavailable(error) => {
                tracing::warn!(%error, "webhook answered 503");
                ("Service temporarily unavailable", None)
            }
            Self::Forbidden => ("Forbidden", None),
            Self::SourceNotAllowed(details) => ("Forbidden", Some(details.clone())),
            Self::SlowBody => ("Request timeout", None),
            Self::RateLimited { .. } => ("Too many requests", None),
            // Logged by the backlog monitor, not per request: under
            // backpressure this fires thousands of times a second.
            Self::Overloaded { .. } | Self::RedisUnavailable => {
                ("Service temporarily unavailable", None)
            }
        };
        let mut response = ErrorBody::response(status, message, details.as_ref());
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_registered() {
        let errors = [
            WebhookError::InvalidSignature,
            WebhookError::InvalidPayload(FieldErrors::new()),
            WebhookError::InvalidBatch(FieldErrors::new()),
            WebhookError::TooLarge { limit: 1 },
            WebhookError::UnsupportedMediaType,
            WebhookError::BodyRead(actix_web::error::PayloadError::Incomplete(None)),
            WebhookError::Unavailable(EnqueueError::Stopped),
            WebhookError::Overloaded { backlog: 1 },
            WebhookError::RedisUnavailable,
            WebhookError::SlowBody,
            WebhookError::Forbidden,
            WebhookError::RateLimited {
                retry_after_secs: 1,
            },
            WebhookError::SourceNotAllowed(FieldErrors::new()),
        ];
        for error in &errors {
            assert!(REJECT_REASONS.contains(&error.reason()), "{error:?}");
        }
    }
}
