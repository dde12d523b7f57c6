//! The reports' reads, with their rows typed and read by column name.

use chrono::{NaiveDate, NaiveDateTime};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, QueryResult};

use super::snapshot::{Snapshots, sqlx_error};
use super::sql;
use super::{Aggregation, Dimension, Selection};

/// One aggregated row: the grouped dimensions (`None` when not grouped by
/// that dimension) and the clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatedRow {
    pub date: Option<NaiveDate>,
    pub offer_id: Option<u64>,
    pub source: Option<String>,
    pub clicks_count: u64,
}

impl AggregatedRow {
    /// Reads the columns of `dimensions` (named as `sql::aggregated_rows`
    /// names them) and the count.
    fn read(row: &QueryResult, dimensions: &[Dimension]) -> Result<Self, DbErr> {
        let mut read = Self {
            date: None,
            offer_id: None,
            source: None,
            clicks_count: row.try_get("", "c")?,
        };
        for dimension in dimensions {
            match dimension {
                Dimension::Date => read.date = Some(row.try_get("", "d")?),
                Dimension::OfferId => read.offer_id = Some(row.try_get("", "offer_id")?),
                Dimension::Source => read.source = Some(row.try_get("", "source")?),
            }
        }
        Ok(read)
    }
}

/// One page of `aggregation`'s rows, in order, and how many rows it has in
/// all: two queries, run side by side, each in its own snapshot.
pub async fn aggregated_page(
    snapshots: &Snapshots,
    aggregation: &Aggregation,
    limit: u64,
    offset: u64,
) -> Result<(Vec<AggregatedRow>, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Total {
        n: i64,
    }
    let rows_query = sql::aggregated_rows(aggregation, Some((limit, offset)));
    let total_query = sql::aggregated_total(aggregation);
    let (rows, total) = tokio::try_join!(snapshots.all(rows_query), snapshots.one(total_query))?;
    let rows = rows
        .iter()
        .map(|row| AggregatedRow::read(row, &aggregation.dimensions))
        .collect::<Result<_, _>>()?;
    let total = match total {
        Some(row) => u64::try_from(Total::from_query_result(&row, "")?.n).unwrap_or(0),
        None => 0,
    };
    Ok((rows, total))
}

/// `aggregation`'s rows in order (one page: `Some((limit, offset))`, or
/// all of them), streamed from one query outside any snapshot, so that a
/// year of rows never sits in memory. Dropping the stream ends the query.
pub fn aggregated_stream(
    db: &DatabaseConnection,
    aggregation: &Aggregation,
    page: Option<(u64, u64)>,
) -> BoxStream<'static, Result<AggregatedRow, DbErr>> {
    let query = sql::aggregated_rows(aggregation, page);
    let dimensions = aggregation.dimensions.clone();
    let pool = db.get_mysql_connection_pool().clone();
    Box::pin(async_stream::try_stream! {
        let mut rows = query.sqlx().fetch(&pool);
        while let Some(row) = rows.next().await {
            let row = QueryResult::from(row.map_err(sqlx_error)?);
            yield AggregatedRow::read(&row, &dimensions)?;
        }
    })
}

/// A summary's totals over its selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub clicks: u64,
    pub offers: u64,
    pub sources: u64,
}

/// Clicks on one local date.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct DayClicks {
    pub local_date: NaiveDate,
    pub clicks: u64,
}

/// Clicks in one UTC hour.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct HourClicks {
    pub click_hour: NaiveDateTime,
    pub clicks: u64,
}

/// One offer's clicks.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct OfferClicks {
    pub offer_id: u64,
    pub clicks: u64,
}

/// One source's clicks.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct SourceClicks {
    pub source: String,
    pub clicks: u64,
}

/// What a summary reads: its totals, its dates that have clicks (in order),
/// the busiest offers and sources, and, when asked for, its UTC hours that
/// have clicks (in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub totals: Totals,
    pub daily: Vec<DayClicks>,
    pub top_offers: Vec<OfferClicks>,
    pub top_sources: Vec<SourceClicks>,
    pub hourly: Option<Vec<HourClicks>>,
}

/// The summary of `selection`, with the `top` busiest offers and sources
/// (ties by key) and, if `hourly`, the clicks per UTC hour: four or five
/// queries, run side by side, each in its own snapshot.
pub async fn summary(
    snapshots: &Snapshots,
    selection: &Selection,
    top: u64,
    hourly: bool,
) -> Result<Summary, DbErr> {
    #[derive(FromQueryResult)]
    struct Counts {
        clicks: u64,
        offers: i64,
        sources: i64,
    }
    let hours = async {
        if hourly {
            let rows = snapshots.all(sql::summary_hourly(selection)).await?;
            Ok(Some(typed(&rows)?))
        } else {
            Ok(None)
        }
    };
    let (counts, daily, offers, sources, hourly) = tokio::try_join!(
        snapshots.one(sql::summary_totals(selection)),
        snapshots.all(sql::summary_daily(selection)),
        snapshots.all(sql::summary_top(selection, "offer_id", top)),
        snapshots.all(sql::summary_top(selection, "source", top)),
        hours,
    )?;
    let totals = match counts {
        Some(row) => {
            let counts = Counts::from_query_result(&row, "")?;
            Totals {
                clicks: counts.clicks,
                offers: u64::try_from(counts.offers).unwrap_or(0),
                sources: u64::try_from(counts.sources).unwrap_or(0),
            }
        }
        None => Totals::default(),
    };
    Ok(Summary {
        totals,
        daily: typed(&daily)?,
        top_offers: typed(&offers)?,
        top_sources: typed(&sources)?,
        hourly,
    })
}

fn typed<T: FromQueryResult>(rows: &[QueryResult]) -> Result<Vec<T>, DbErr> {
    rows.iter()
        .map(|row| T::from_query_result(row, ""))
        .collect()
}
