//! The reports' reads from the aggregates: what a report selects
//! ([`Selection`], [`Aggregation`]), the SQL that reads it (`sql`), the
//! rows it returns (typed, read by column name), and the read-only
//! snapshots every body query runs in, which tell the date versions their
//! rows were read at ([`Snapshots`]).
//!
//! The reporting API parses requests into these types and turns the rows
//! into answers; it writes no SQL.

mod days;
mod read;
mod snapshot;
mod sql;

use chrono::NaiveDate;

pub use days::DaySource;
pub use read::{
    AggregatedRow, DayClicks, HourClicks, OfferClicks, SourceClicks, Summary, Totals,
    aggregated_page, aggregated_stream, summary,
};
pub use snapshot::{DateVersions, Snapshots};

/// A dimension of the aggregated rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Date,
    OfferId,
    Source,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Date, Dimension::OfferId, Dimension::Source];

    /// The dimension's name in requests and answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Date => "date",
            Self::OfferId => "offer_id",
            Self::Source => "source",
        }
    }
}

/// What the aggregated rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    ClicksCount,
    Dimension(Dimension),
}

impl SortKey {
    /// The key's name in requests and answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClicksCount => "clicks_count",
            Self::Dimension(d) => d.name(),
        }
    }
}

/// The direction of a sort; ties follow it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

impl Order {
    fn sql(self) -> &'static str {
        match self {
            Self::Ascending => "ASC",
            Self::Descending => "DESC",
        }
    }
}

/// The aggregate rows a report covers: local dates (read from the table
/// `days` names), the request's filters, and the rows its key may see.
#[derive(Debug, Clone)]
pub struct Selection {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub days: DaySource,
    pub offer_id: Option<u64>,
    pub source: Option<String>,
    /// A restricted key's offers (`None`: every offer).
    pub only_offers: Option<Vec<u64>>,
    /// A restricted key's sources (`None`: every source).
    pub only_sources: Option<Vec<String>>,
}

impl Selection {
    /// Whether only some offers' or sources' rows count: by the request's
    /// filters or the key's restriction.
    pub fn is_filtered(&self) -> bool {
        self.offer_id.is_some()
            || self.source.is_some()
            || self.only_offers.is_some()
            || self.only_sources.is_some()
    }

    /// The UTC dates whose aggregates the selection reads: the versions
    /// of these dates are what a cached answer depends on.
    pub fn utc_dates(&self) -> (NaiveDate, NaiveDate) {
        self.days.utc_dates(self.start_date, self.end_date)
    }
}

/// Aggregated rows: a selection grouped by some dimensions, sorted.
#[derive(Debug, Clone)]
pub struct Aggregation {
    pub selection: Selection,
    /// The grouped dimensions, in their fixed order (never empty).
    pub dimensions: Vec<Dimension>,
    pub sort_by: SortKey,
    pub order: Order,
}

impl Aggregation {
    /// Whether every dimension is grouped.
    pub fn groups_all(&self) -> bool {
        Dimension::ALL.iter().all(|d| self.dimensions.contains(d))
    }
}
