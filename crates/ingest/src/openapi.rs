//! The OpenAPI 3.1 document of the webhooks, served at
//! `GET /api/openapi.json`: generated from the handlers' `#[utoipa::path]`
//! and the bodies' `ToSchema`, so it follows the code.
//!
//! Request bodies are parsed by `domain` (by hand, for per-field reasons);
//! the schemas below describe what it accepts.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::{OpenApi, ToSchema};

use crate::{error, health, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clicks service — webhooks",
        description = "Signed click webhooks (contract: Webhooks). Every request carries `X-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed by WEBHOOK_SECRET_KEY."
    ),
    paths(webhooks::receive_click, webhooks::receive_batch, health::health, health::livez, health::readyz),
    components(schemas(ClickPayload, BatchPayload, error::ErrorBody)),
    tags(
        (name = "webhooks", description = "Clicks in (contract: Webhooks)"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// A click; every field is required, unknown fields are ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClickPayload {
    /// 1–255 characters, no control characters, not only whitespace; the
    /// identity of the click, exact (case, spaces and normalisation count).
    #[schema(
        example = "c-8f14e45f",
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$"
    )]
    click_id: String,
    /// Positive integer (a JSON number or a string of digits), at most 2^63−1.
    #[schema(schema_with = offer_id_schema)]
    offer_id: u64,
    /// 1–255 characters, no control characters.
    #[schema(
        example = "network_1",
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    source: String,
    /// RFC 3339 date-time with offset, between 1000-01-01 and 9999-12-31 in
    /// UTC (the pattern documents years 1001–9998, which hold in any offset).
    #[schema(format = DateTime, example = "2025-06-11T14:00:00Z",
        pattern = r"^(100[1-9]|10[1-9][0-9]|1[1-9][0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])-")]
    timestamp: String,
    /// The sender's own signature, stored and forwarded as is (1–255 characters).
    #[schema(min_length = 1, max_length = 255)]
    signature: String,
}

/// `offer_id`: an integer from 1 to 2^63−1, or the same as a string of digits.
fn offer_id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let integer = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX));
    let digits = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^0*[1-9][0-9]{0,17}$"))
        .description(Some("digits of a positive integer (up to 18 significant digits here; the service accepts up to 2^63−1)"));
    OneOfBuilder::new()
        .item(integer)
        .item(digits)
        .description(Some(
            "Positive integer (a JSON number or a string of digits), at most 2^63−1.",
        ))
        .examples([serde_json::json!(12345)])
        .into()
}

/// `{"clicks": [click, …]}` with 1 to 1000 items. Each item is judged on
/// its own by the rules of `ClickPayload`: the valid ones are enqueued and
/// the invalid ones reported in `errors`, and the answer is 202 either way;
/// so any item is accepted here, and only the list itself is a 400.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchPayload {
    #[schema(min_items = 1, max_items = 1000, value_type = Vec<serde_json::Value>)]
    clicks: Vec<ClickPayload>,
}

/// The document, with the `meta` paths every binary shares.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| service_runtime::openapi::render(ApiDoc::openapi()));

/// `GET /api/openapi.json`.
pub async fn serve() -> HttpResponse {
    service_runtime::openapi::respond(DOCUMENT.as_str())
}
