//! `GET /api/reports/aggregated` and `GET /api/reports/summary` (contract: Reports),
//! read from the aggregates the worker maintains (`state.read_db`), cached
//! in Redis under keys that change whenever a covered date gets clicks.

pub(crate) mod cache;
mod csv;
pub mod model;
pub(crate) mod params;
pub mod timezone;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use service_runtime::routes;

use crate::AppState;
use crate::auth::ReportReader;
use crate::error::ApiError;
use model::{
    AggregatedReport, AggregatedRow, DailyClicks, DateRange, Filters, HourlyClicks, Pagination,
    Sorting, Summary, SummaryReport, TopOffer, TopSource,
};
use params::{AggregatedParams, Format, RawQuery, Scope, SummaryParams};
use storage::reports::{DateVersions, Snapshots};

pub use clickstream::layout::REPORT_CACHE_PREFIX as CACHE_KEY_PREFIX;

/// Offers and sources listed in a summary's tops.
pub const SUMMARY_TOP: u64 = 10;
/// `X-Cache: hit|miss` tells whether the body came from the cache.
pub const CACHE_HEADER: &str = "X-Cache";

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(routes::get("/aggregated", aggregated))
        .service(routes::get("/summary", summary));
}

/// Clicks per (date, offer, source), or per any subset of them.
#[utoipa::path(
    get,
    path = "/api/reports/aggregated",
    tag = "reports",
    params(
        ("start_date" = String, Query, format = Date, description = "First local date, YYYY-MM-DD, 1000-01-01 to 9999-12-31 (required)"),
        ("end_date" = String, Query, format = Date, description = "Last local date, YYYY-MM-DD, ≥ start_date, at most REPORT_MAX_RANGE_DAYS days after (required)"),
        ("offer_id" = Option<u64>, Query, minimum = 1, maximum = 9223372036854775807_u64, description = "Only this offer"),
        ("source" = Option<String>, Query, max_length = 255, description = "Only this source (exact)"),
        ("sort_by" = Option<model::SortBy>, Query, description = "clicks_count (default), offer_id, source or date; must be clicks_count or a group_by field"),
        ("sort_direction" = Option<params::Direction>, Query, description = "desc (default) or asc"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Rows per page (default 100)"),
        ("page" = Option<u64>, Query, minimum = 1, maximum = 1000000000, description = "Page (default 1); past the end: an empty page"),
        ("group_by" = Option<String>, Query, pattern = "^(date|offer_id|source)(,(date|offer_id|source))*$", description = "Comma-separated subset of date,offer_id,source (default all three)"),
        ("timezone" = Option<String>, Query, description = "IANA time zone of the dates (default UTC); offsets must be whole hours over the range"),
        ("format" = Option<params::Format>, Query, description = "json (default) or csv (also chosen by an Accept header preferring text/csv); CSV has every row unless limit or page is given"),
    ),
    responses(
        (status = 200, description = "One page of rows (JSON), or with format=csv the rows as CSV with a header line",
            content(
                (AggregatedReport = "application/json"),
                (String = "text/csv"),
            ),
            headers(("X-Cache" = String, description = "hit or miss (JSON answers)"))),
        (status = 400, description = "Invalid query; a reason per field", body = model::ErrorBody),
        (status = 401, description = "Missing or wrong bearer key (or dashboard session)", body = model::ErrorBody),
        (status = 403, description = "The key lacks the reports:read scope", body = model::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn aggregated(
    reader: ReportReader,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = RawQuery::parse(request.query_string()).map_err(ApiError::Validation)?;
    let accepts_csv = csv::preferred(
        request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let mut params = params::aggregated(&raw, &state.settings.reports, accepts_csv)
        .map_err(ApiError::Validation)?;
    params.scope.restriction = reader.restriction();
    if params.format == Format::Csv {
        return csv::response(&state.read_db, &params).await;
    }
    let snapshots = snapshots_of(&state, &params.scope);
    cached(
        &state,
        "aggregated",
        normalised_aggregated(&params),
        &snapshots,
        || aggregated_body(&snapshots, &params),
    )
    .await
}

/// Totals of a date range, clicks per day and the top offers and sources.
#[utoipa::path(
    get,
    path = "/api/reports/summary",
    tag = "reports",
    params(
        ("start_date" = String, Query, format = Date, description = "First local date, YYYY-MM-DD, 1000-01-01 to 9999-12-31 (required)"),
        ("end_date" = String, Query, format = Date, description = "Last local date, YYYY-MM-DD, ≥ start_date (required)"),
        ("offer_id" = Option<u64>, Query, minimum = 1, maximum = 9223372036854775807_u64, description = "Only this offer"),
        ("source" = Option<String>, Query, max_length = 255, description = "Only this source (exact)"),
        ("timezone" = Option<String>, Query, description = "IANA time zone of the dates (default UTC)"),
        ("interval" = Option<params::Interval>, Query, description = "day (default) or hour: hour adds `hourly`, clicks per local hour (ranges of at most 31 days)"),
    ),
    responses(
        (status = 200, description = "The summary", body = SummaryReport,
            headers(("X-Cache" = String, description = "hit or miss"))),
        (status = 400, description = "Invalid query; a reason per field", body = model::ErrorBody),
        (status = 401, description = "Missing or wrong bearer key (or dashboard session)", body = model::ErrorBody),
        (status = 403, description = "The key lacks the reports:read scope", body = model::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn summary(
    reader: ReportReader,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = RawQuery::parse(request.query_string()).map_err(ApiError::Validation)?;
    let mut params =
        params::summary(&raw, &state.settings.reports).map_err(ApiError::Validation)?;
    params.scope.restriction = reader.restriction();
    let snapshots = snapshots_of(&state, &params.scope);
    cached(
        &state,
        "summary",
        normalised_summary(&params),
        &snapshots,
        || summary_body(&snapshots, &params),
    )
    .await
}

/// The snapshots a report's body is read in: over the UTC dates its scope covers.
fn snapshots_of(state: &AppState, scope: &Scope) -> Snapshots {
    let (first, last) = scope.selection().utc_dates();
    Snapshots::new(&state.read_db, first, last)
}

/// Answers from the cache when it holds this query at the covered dates'
/// current versions; otherwise computes the body (with `snapshots`) and
/// stores it under the versions its snapshots saw, when they all saw the
/// same (see `snapshot`).
async fn cached<F, Fut>(
    state: &AppState,
    kind: &str,
    normalised: serde_json::Value,
    snapshots: &Snapshots,
    compute: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<u8>, ApiError>>,
{
    let ttl = state.settings.reports.report_cache_ttl_secs;
    if ttl == 0 {
        return Ok(json_response(compute().await?, "miss"));
    }
    // The database is part of the key: environments may share a Redis.
    let query = json!({
        "database": state.settings.read_url().expose(),
        "report": kind,
        "query": normalised,
    })
    .to_string();
    let (first, last) = snapshots.dates();
    let current = DateVersions::read(&state.read_db, first, last).await?;
    if let Some(body) = cache::get(&state.redis, &cache::key(&query, &current)).await {
        return Ok(json_response(body, "hit"));
    }
    let body = compute().await?;
    if let Some(versions) = snapshots.agreed_versions() {
        cache::put(&state.redis, &cache::key(&query, &versions), &body, ttl).await;
    }
    Ok(json_response(body, "miss"))
}

/// Report answers by `result`: `hit` (from the cache) or `miss` (computed,
/// also when the cache is off or Redis is away).
pub const REPORT_CACHE_TOTAL: &str = "report_cache_total";

/// The reports' metrics, registered at start.
pub const METRICS: &[service_runtime::metrics::Metric] =
    &[service_runtime::metrics::Metric::counter(
        REPORT_CACHE_TOTAL,
        "JSON report answers, by result: hit (from the cache) or miss (computed).",
    )
    .by("result", &["hit", "miss"])];

fn json_response(body: Vec<u8>, cache: &'static str) -> HttpResponse {
    metrics::counter!(REPORT_CACHE_TOTAL, "result" => cache).increment(1);
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_HEADER, cache))
        .body(body)
}

fn normalised_scope(scope: &Scope) -> serde_json::Value {
    let mut normalised = json!({
        "start_date": scope.start_date,
        "end_date": scope.end_date,
        "offer_id": scope.offer_id,
        "source": scope.source,
        "timezone": scope.timezone,
    });
    // A restricted key's answers are its own: the restriction is part of
    // the key. Absent when unrestricted, so those keys stay as they were.
    if let Some(restriction) = &scope.restriction {
        normalised["restriction"] = json!({
            "sources": restriction.sources,
            "offers": restriction.offers,
        });
    }
    normalised
}

fn normalised_summary(params: &SummaryParams) -> serde_json::Value {
    let mut normalised = normalised_scope(&params.scope);
    // Absent for the default, so the cache keys of plain summaries stay as they were.
    if params.hourly {
        normalised["interval"] = json!("hour");
    }
    normalised
}

fn normalised_aggregated(params: &AggregatedParams) -> serde_json::Value {
    let group: Vec<&str> = params
        .group_by
        .dimensions()
        .iter()
        .map(|d| d.name())
        .collect();
    json!({
        "scope": normalised_scope(&params.scope),
        "group_by": group,
        "sort_by": params.sort_by.name(),
        "sort_direction": params.direction.name(),
        "limit": params.limit,
        "page": params.page,
    })
}

fn filters(scope: &Scope) -> Filters {
    Filters {
        start_date: scope.start_date,
        end_date: scope.end_date,
        offer_id: scope.offer_id,
        source: scope.source.clone(),
    }
}

/// The zone, echoed only when the request named another than UTC.
fn timezone_echo(scope: &Scope) -> Option<String> {
    (scope.timezone != "UTC").then(|| scope.timezone.clone())
}

async fn aggregated_body(
    snapshots: &Snapshots,
    params: &AggregatedParams,
) -> Result<Vec<u8>, ApiError> {
    let (rows, total) = storage::reports::aggregated_page(
        snapshots,
        &params.aggregation(),
        params.limit,
        params.offset(),
    )
    .await?;
    let data: Vec<AggregatedRow> = rows
        .into_iter()
        .map(|row| AggregatedRow {
            date: row.date,
            offer_id: row.offer_id,
            source: row.source,
            clicks_count: row.clicks_count,
        })
        .collect();
    let dims = params.group_by.dimensions();
    let report = AggregatedReport {
        status: "success",
        pagination: Pagination::new(params.page, params.limit, total, data.len()),
        data,
        filters: filters(&params.scope),
        sorting: Sorting {
            sort_by: params.sort_by.name(),
            sort_direction: params.direction.name(),
        },
        group_by: (!params.group_by.is_all()).then(|| dims.iter().map(|d| d.name()).collect()),
        timezone: timezone_echo(&params.scope),
    };
    serde_json::to_vec(&report).map_err(|e| ApiError::Internal(e.into()))
}

async fn summary_body(snapshots: &Snapshots, params: &SummaryParams) -> Result<Vec<u8>, ApiError> {
    let scope = &params.scope;
    let read = storage::reports::summary(snapshots, &scope.selection(), SUMMARY_TOP, params.hourly)
        .await?;
    let counts: std::collections::HashMap<_, _> = read
        .daily
        .iter()
        .map(|day| (day.local_date, day.clicks))
        .collect();
    let daily = scope
        .start_date
        .iter_days()
        .take_while(|date| *date <= scope.end_date)
        .map(|date| DailyClicks {
            date,
            clicks_count: counts.get(&date).copied().unwrap_or(0),
        })
        .collect();
    let hourly = match read.hourly {
        Some(hours) => Some(hourly_series(scope, &hours)?),
        None => None,
    };
    let report = SummaryReport {
        status: "success",
        summary: Summary {
            total_clicks: read.totals.clicks,
            unique_offers: read.totals.offers,
            unique_sources: read.totals.sources,
            date_range: DateRange {
                start_date: scope.start_date,
                end_date: scope.end_date,
            },
        },
        daily,
        hourly,
        top_offers: read
            .top_offers
            .into_iter()
            .map(|top| TopOffer {
                offer_id: top.offer_id,
                clicks_count: top.clicks,
            })
            .collect(),
        top_sources: read
            .top_sources
            .into_iter()
            .map(|top| TopSource {
                source: top.source,
                clicks_count: top.clicks,
            })
            .collect(),
        filters: filters(scope),
        timezone: timezone_echo(scope),
    };
    serde_json::to_vec(&report).map_err(|e| ApiError::Internal(e.into()))
}

/// Every UTC hour of the scope's local days, labelled with its local start.
fn hourly_series(
    scope: &params::Scope,
    hours: &[storage::reports::HourClicks],
) -> Result<Vec<HourlyClicks>, ApiError> {
    let zone: chrono_tz::Tz = scope
        .timezone
        .parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("time zone {}", scope.timezone)))?;
    let counts: std::collections::HashMap<_, _> = hours
        .iter()
        .map(|hour| (hour.click_hour, hour.clicks))
        .collect();
    let (first, last) = scope.days.utc_hours(scope.start_date, scope.end_date);
    let hours = (last - first).num_hours().max(0) + 1;
    Ok((0..hours)
        .map(|n| first + chrono::Duration::hours(n))
        .map(|hour| {
            use chrono::TimeZone;
            HourlyClicks {
                hour: zone
                    .from_utc_datetime(&hour)
                    .naive_local()
                    .format("%Y-%m-%dT%H:00:00")
                    .to_string(),
                clicks_count: counts.get(&hour).copied().unwrap_or(0),
            }
        })
        .collect())
}
