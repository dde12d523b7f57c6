//! Every way a reporting or export request can fail, mapped to HTTP in one
//! place. Bodies have the contract's shape `{"error": …, "details": {…}}`;
//! 5xx bodies never carry internals, the log keeps the cause chain.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::FieldErrors;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized")]
    Unauthorized,
    /// 401 at the dashboard's login: the key presented is not configured.
    #[error("invalid reporting key")]
    InvalidKey,
    /// 403: the key is in force but lacks this scope.
    #[error("the key lacks the {} scope", .0.name())]
    Forbidden(domain::access::Scope),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("not found")]
    NotFound,
    /// 409 with this message, e.g. `Export already running`.
    #[error("{0}")]
    Conflict(&'static str),
    /// 503 with this message and extra fields; `Retry-After: 5`.
    #[error("{message}")]
    Unavailable { message: &'static str, extra: Value },
    /// 502 with this message and extra fields.
    #[error("{message}")]
    BadGateway { message: &'static str, extra: Value },
    /// 413: the body is larger than `limit` bytes.
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 415: the body is not declared as JSON.
    #[error("content type is not application/json")]
    UnsupportedMediaType,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized | Self::InvalidKey => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::Unauthorized => json!({"error": "Unauthorized"}),
            Self::InvalidKey => crate::dashboard::invalid_key_body(),
            Self::Forbidden(scope) => json!({
                "error": "Forbidden",
                "details": {"scope": [format!("This key does not have the {} scope.", scope.name())]},
            }),
            Self::Validation(details) => json!({"error": "Validation failed", "details": details}),
            Self::NotFound => json!({"error": "Not found"}),
            Self::Conflict(message) => json!({"error": message}),
            Self::TooLarge { limit } => json!({
                "error": "Payload too large",
                "details": {"body": [format!("The request body must not be larger than {limit} bytes.")]},
            }),
            Self::UnsupportedMediaType => json!({
                "error": "Unsupported media type",
                "details": {"content_type": ["The Content-Type header must be application/json."]},
            }),
            Self::Unavailable { message, extra } | Self::BadGateway { message, extra } => {
                let mut body = json!({"error": message});
                if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                    body.extend(extra.clone());
                }
                body
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                json!({"error": "Internal server error"})
            }
        };
        let mut response = HttpResponse::build(self.status_code()).json(body);
        if matches!(self, Self::Unavailable { .. }) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A request body that must be JSON of at most `limit` bytes: 415 when it is
/// declared otherwise, 413 when larger.
pub async fn json_body(
    request: &actix_web::HttpRequest,
    payload: actix_web::web::Payload,
    limit: usize,
) -> Result<actix_web::web::Bytes, ApiError> {
    use service_runtime::body::{self, BodyError};
    if body::declared_length(request).is_some_and(|length| length > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    if !body::is_json(request) {
        return Err(ApiError::UnsupportedMediaType);
    }
    body::read_limited(payload, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge { limit } => ApiError::TooLarge { limit },
            BodyError::Read(error) => ApiError::Validation(FieldErrors::single(
                "body",
                format!("The request body could not be read: {error}."),
            )),
        })
}
