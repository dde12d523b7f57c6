//! The JSON bodies of the report endpoints (contract: Reports), also the OpenAPI schemas.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// One row of `GET /api/reports/aggregated`; dimensions left out of
/// `group_by` are left out of the row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AggregatedRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date, example = "2024-01-01")]
    pub date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 12345)]
    pub offer_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "network_1")]
    pub source: Option<String>,
    #[schema(example = 2)]
    pub clicks_count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pagination {
    pub current_page: u64,
    pub per_page: u64,
    pub total: u64,
    pub last_page: u64,
    /// Position of the page's first row (1-based); null on an empty page.
    pub from: Option<u64>,
    /// Position of the page's last row; null on an empty page.
    pub to: Option<u64>,
}

impl Pagination {
    pub fn new(page: u64, per_page: u64, total: u64, rows: usize) -> Self {
        let offset = (page - 1) * per_page;
        let rows = rows as u64;
        Self {
            current_page: page,
            per_page,
            total,
            last_page: total.div_ceil(per_page).max(1),
            from: (rows > 0).then_some(offset + 1),
            to: (rows > 0).then_some(offset + rows),
        }
    }
}

/// The filters as understood.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Filters {
    #[schema(value_type = String, format = Date)]
    pub start_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub end_date: NaiveDate,
    pub offer_id: Option<u64>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sorting {
    #[schema(example = "clicks_count")]
    pub sort_by: &'static str,
    #[schema(example = "desc")]
    pub sort_direction: &'static str,
}

/// `GET /api/reports/aggregated` → 200. `group_by` and `timezone` appear
/// only when the request chose other than the defaults, so a plain request
/// gets exactly the old service's body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AggregatedReport {
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: Vec<AggregatedRow>,
    pub pagination: Pagination,
    pub filters: Filters,
    pub sorting: Sorting,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DateRange {
    #[schema(value_type = String, format = Date)]
    pub start_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub end_date: NaiveDate,
}

/// The contract's summary, unchanged from the old service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub total_clicks: u64,
    pub unique_offers: u64,
    pub unique_sources: u64,
    pub date_range: DateRange,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyClicks {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub clicks_count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopOffer {
    pub offer_id: u64,
    pub clicks_count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopSource {
    pub source: String,
    pub clicks_count: u64,
}

/// Clicks of one local hour (`interval=hour`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourlyClicks {
    /// The local hour's start, `YYYY-MM-DDTHH:00:00` in the report's zone
    /// (an hour repeated by a daylight-saving change appears twice).
    #[schema(value_type = String, example = "2024-01-01T13:00:00")]
    pub hour: String,
    pub clicks_count: u64,
}

/// `GET /api/reports/summary` → 200.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryReport {
    #[schema(example = "success")]
    pub status: &'static str,
    pub summary: Summary,
    /// Every date of the range, with 0 where there were no clicks.
    pub daily: Vec<DailyClicks>,
    /// With `interval=hour`: every local hour of the range, with 0 where
    /// there were no clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly: Option<Vec<HourlyClicks>>,
    /// The 10 offers with the most clicks (ties: lower offer_id first).
    pub top_offers: Vec<TopOffer>,
    /// The 10 sources with the most clicks (ties: by source).
    pub top_sources: Vec<TopSource>,
    pub filters: Filters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// An error body: `{"error": …, "details": {field: [reasons]}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Validation failed")]
    pub error: String,
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub details: Option<serde_json::Value>,
}

/// `sort_by` of the aggregated report as the OpenAPI document lists it
/// (`params::SortKey` nests the dimensions; a test keeps the names equal).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    ClicksCount,
    OfferId,
    Source,
    Date,
}
