//! The OpenAPI 3.1 document of the reporting API, served at
//! `GET /api/openapi.json`. Report paths and schemas come from the
//! `#[utoipa::path]` annotations on the handlers and `ToSchema` on the
//! bodies, so they cannot drift from the code; the export handlers carry
//! their own annotations, with the hand-built JSON they answer described by
//! the schemas below. Health and the probes are described here; the
//! route-coverage test (`tests/openapi.rs`) keeps every route in the document.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::reports::{self, model};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clicks service — reporting API",
        description = "Reports from the click aggregates and the export of a day's clicks to Finance (docs/contract.md: Reports, Export to Finance, Health)."
    ),
    paths(
        reports::aggregated,
        reports::summary,
        crate::export::http::forward,
        crate::export::http::status,
        health,
        livez,
        readyz
    ),
    components(schemas(
        model::AggregatedReport,
        model::AggregatedRow,
        model::Pagination,
        model::Filters,
        model::Sorting,
        model::SummaryReport,
        model::Summary,
        model::DateRange,
        model::DailyClicks,
        model::TopOffer,
        model::TopSource,
        model::ErrorBody,
        model::SortBy,
        reports::params::Direction,
        reports::params::Format,
        ForwardRequest,
        ForwardResponse,
        ExportStatusResponse,
        HealthResponse,
    )),
    modifiers(&BearerKey),
    tags(
        (name = "reports", description = "Aggregated clicks (contract: Reports)"),
        (name = "export", description = "Export to Finance (contract: Export to Finance)"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <key>` with a reporting key in force
/// (`REPORTING_API_KEYS` or `CLICKS_KEYS_FILE`) that has the route's scope.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, with the `meta` paths every binary shares.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| service_runtime::openapi::render(ApiDoc::openapi()));

/// `GET /api/openapi.json`.
pub async fn serve() -> HttpResponse {
    service_runtime::openapi::respond(DOCUMENT.as_str())
}

/// Body of `POST /api/export/forward`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ForwardRequest {
    /// The UTC date to export, not in the future.
    #[schema(example = "2024-01-01", format = Date)]
    date: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ForwardResponse {
    #[schema(example = "success")]
    status: String,
    #[schema(example = "Clicks data successfully forwarded to Finance service")]
    message: String,
    #[schema(format = Date)]
    date: String,
    clicks_sent: u64,
    total_clicks: u64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ExportStatusResponse {
    #[schema(example = "success")]
    status: String,
    /// `date`, `finance_service_available`, `export_ready`, `clicks_count`
    /// and the persisted record of the date's exports (state, clicks sent,
    /// attempts, last error, times).
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct HealthResponse {
    /// `healthy` or `unhealthy`.
    status: String,
    timestamp: String,
    service: String,
    /// Each dependency's status (`up`/`down`) and latency.
    #[schema(value_type = Object)]
    checks: serde_json::Value,
}

/// MySQL (read side) and Redis.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "meta",
    responses(
        (status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "A dependency failed", body = HealthResponse),
    )
)]
#[allow(dead_code)]
fn health() {}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/livez", tag = "meta", responses((status = 200, description = "Alive")))]
#[allow(dead_code)]
fn livez() {}

/// Readiness: MySQL reachable.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "MySQL unreachable"),
    )
)]
#[allow(dead_code)]
fn readyz() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).expect("the document is JSON");
        assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
        assert!(doc["components"]["schemas"]["AggregatedReport"].is_object());
    }
}
