//! What every binary's OpenAPI document has in common: the `meta` paths
//! (`/metrics`, `/api/openapi.json`) and how the document is rendered and
//! served.

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// Prometheus metrics in the text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[allow(dead_code)]
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
#[allow(dead_code)]
fn openapi_json() {}

#[derive(OpenApi)]
#[openapi(paths(metrics, openapi_json))]
struct MetaPaths;

/// `document` with the shared `meta` paths added, as JSON.
pub fn render(mut document: utoipa::openapi::OpenApi) -> String {
    document.merge(MetaPaths::openapi());
    document.to_json().unwrap_or_else(|_| "{}".to_owned())
}

/// `GET /api/openapi.json` answering `document` (see [`render`]).
pub fn respond(document: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document)
}
