//! Request ids: taken from `X-Request-Id` when the caller sends a sane one,
//! generated otherwise, returned in the response, and carried by a tracing
//! span so every log line of the request shows it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use rand::Rng;
use tracing::Instrument;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest id accepted from a caller.
const MAX_LEN: usize = 128;

/// Middleware: `App::new().wrap(actix_web::middleware::from_fn(request_id::middleware))`.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(generate, str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path(),
    );
    let mut response = next.call(request).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

/// Visible ASCII without spaces, 1–128 characters: safe in logs and headers.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

fn generate() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn ids_are_echoed_or_generated() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(middleware))
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let given = test::TestRequest::get()
            .uri("/")
            .insert_header(("x-request-id", "abc-123"))
            .to_request();
        let response = test::call_service(&app, given).await;
        assert_eq!(
            response.headers().get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"abc-123"[..])
        );

        let unsafe_id = test::TestRequest::get()
            .uri("/")
            .insert_header(("x-request-id", "a b"))
            .to_request();
        let response = test::call_service(&app, unsafe_id).await;
        let id = response
            .headers()
            .get("x-request-id")
            .expect("generated")
            .to_str()
            .expect("ascii");
        assert_eq!(id.len(), 32);
        assert_ne!(id, "a b");

        let none = test::TestRequest::get().uri("/").to_request();
        let response = test::call_service(&app, none).await;
        assert!(response.headers().get("x-request-id").is_some());
    }
}
