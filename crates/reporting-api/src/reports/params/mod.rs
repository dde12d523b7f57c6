//! What a report request asks for, once parsed (`parse`: the query strings,
//! by hand, so that every invalid field gets its own reason in `details`,
//! in Laravel's wording, as the old service answered).

mod parse;

pub use parse::{RawQuery, aggregated, summary};

use chrono::NaiveDate;
use storage::reports::{Aggregation, Selection};

use super::timezone::DaySource;
use crate::keys::Restriction;

/// Most rows of one page.
pub const MAX_LIMIT: u64 = 1000;
pub const DEFAULT_LIMIT: u64 = 100;
/// Pages beyond this are refused rather than letting the offset overflow.
pub const MAX_PAGE: u64 = 1_000_000_000;
/// Longest `source` filter, as the column.
pub const MAX_SOURCE_CHARS: usize = 255;
/// Largest `offer_id` (the column is unsigned, clicks are at most 2^63−1).
pub const MAX_OFFER_ID: u64 = i64::MAX as u64;

pub use storage::reports::{Dimension, SortKey};

/// The dimensions a report groups by, in their fixed order (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy(pub(super) Vec<Dimension>);

impl GroupBy {
    pub fn all() -> Self {
        Self(Dimension::ALL.to_vec())
    }

    pub fn contains(&self, dimension: Dimension) -> bool {
        self.0.contains(&dimension)
    }

    pub fn dimensions(&self) -> &[Dimension] {
        &self.0
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == Dimension::ALL.len()
    }
}

/// `sort_direction`; also its OpenAPI schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn order(self) -> storage::reports::Order {
        match self {
            Self::Asc => storage::reports::Order::Ascending,
            Self::Desc => storage::reports::Order::Descending,
        }
    }
}

/// `format`; also its OpenAPI schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
}

/// `interval` of the summary; also its OpenAPI schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Hour,
}

/// What every report covers: local dates, the filters and the time zone.
#[derive(Debug, Clone)]
pub struct Scope {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub offer_id: Option<u64>,
    pub source: Option<String>,
    /// The IANA name as given (`UTC` by default).
    pub timezone: String,
    pub days: DaySource,
    /// The rows the caller's key may see (`None`: every row); set by the
    /// handler from the key, never from the query.
    pub restriction: Option<Restriction>,
}

impl Scope {
    /// The aggregate rows the scope covers, as storage reads them.
    pub fn selection(&self) -> Selection {
        let restriction = self.restriction.as_ref();
        Selection {
            start_date: self.start_date,
            end_date: self.end_date,
            days: self.days.clone(),
            offer_id: self.offer_id,
            source: self.source.clone(),
            only_offers: restriction.and_then(|r| r.offers.clone()),
            only_sources: restriction.and_then(|r| r.sources.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AggregatedParams {
    pub scope: Scope,
    pub group_by: GroupBy,
    pub sort_by: SortKey,
    pub direction: Direction,
    pub limit: u64,
    pub page: u64,
    pub format: Format,
    /// `limit` or `page` was given: a CSV export is then that page only.
    pub paged: bool,
}

impl AggregatedParams {
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.limit
    }

    /// The rows the report reads, as storage reads them.
    pub fn aggregation(&self) -> Aggregation {
        Aggregation {
            selection: self.scope.selection(),
            dimensions: self.group_by.dimensions().to_vec(),
            sort_by: self.sort_by,
            order: self.direction.order(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SummaryParams {
    pub scope: Scope,
    /// `interval=hour`: the summary also lists clicks per local hour.
    pub hourly: bool,
}

/// Longest range whose summary may list hours (`interval=hour`).
pub const MAX_HOURLY_DAYS: i64 = 31;
