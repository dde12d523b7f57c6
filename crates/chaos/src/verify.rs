//! The end of every scenario: what MariaDB holds, read directly (never
//! through the fault proxy), once the workers have drained the stream.
//!
//! - the `click_id` of every row of `clicks`, walked by primary key;
//! - each aggregate table set against a `GROUP BY` count over `clicks`
//!   (`storage::aggregates::audit`).

use anyhow::Context;
use sea_orm::DatabaseConnection;
pub use storage::aggregates::AggregateCheck;

use crate::clicks::{ClickKey, ClickNames};

/// Rows read per round trip.
const PAGE: u64 = 20_000;

/// The key of every row of `clicks` (`None` for a `click_id` that is not
/// this scenario's), in primary key order.
pub async fn stored_keys(
    db: &DatabaseConnection,
    names: &ClickNames,
) -> anyhow::Result<Vec<Option<ClickKey>>> {
    let mut keys = Vec::new();
    let mut after: u64 = 0;
    loop {
        let rows = storage::inspect::click_ids_after(db, after, PAGE)
            .await
            .context("read the stored click ids")?;
        let Some((last, _)) = rows.last() else {
            return Ok(keys);
        };
        after = *last;
        keys.extend(rows.iter().map(|(_, click_id)| names.parse(click_id)));
    }
}

/// Sets every aggregate table against `GROUP BY` counts over `clicks`
/// (storage's audit, the one the tests use too).
pub async fn aggregates(db: &DatabaseConnection) -> anyhow::Result<Vec<AggregateCheck>> {
    storage::aggregates::audit(db)
        .await
        .context("compare the aggregates with clicks")
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime};
    use storage::inspect::{AggregateRow, add_to_one_aggregate_table};

    use super::*;
    use crate::clicks::ClickKey;

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, day).expect("date")
    }

    fn at(day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        date(day).and_hms_opt(hour, minute, 0).expect("time")
    }

    fn click(id: &str, offer: u64, source: &str, at: NaiveDateTime) -> domain::Click {
        domain::Click {
            click_id: id.to_owned(),
            offer_id: domain::OfferId::new(offer).expect("positive"),
            source: source.to_owned(),
            timestamp: at.and_utc(),
            signature: "s".to_owned(),
        }
    }

    async fn plant(db: &DatabaseConnection, row: AggregateRow, clicks: u64) {
        add_to_one_aggregate_table(db, &row, clicks)
            .await
            .unwrap_or_else(|error| panic!("plant {row:?}: {error}"));
    }

    /// Against the shared test server: a fresh migrated database.
    #[tokio::test]
    async fn mismatched_aggregates_and_stored_ids_are_found() {
        let db = testkit::TestDb::create().await;
        let names = ClickNames::new("verify", 1);
        let first = names.click_id(ClickKey {
            namespace: 0,
            seq: 0,
        });
        let second = names.click_id(ClickKey {
            namespace: 0,
            seq: 1,
        });
        // Stored in this order, so with ascending ids; none of them counted.
        let clicks = [
            click(&first, 7, "net", at(10, 13, 20)),
            click(&second, 7, "net", at(10, 13, 40)),
            click("stranger", 8, "web", at(11, 1, 0)),
        ];
        storage::inspect::load_uncounted_clicks(&db.conn, &clicks, clicks.len())
            .await
            .expect("store the clicks");
        // Exact counts for the first two clicks, as a fold writes them.
        storage::aggregates::add_counts(&db.conn, [(at(10, 13, 0), 7, "net".to_owned(), 2)])
            .await
            .expect("count the first two clicks");
        // The third click: counted twice daily, never hourly, once per offer,
        // and the source table has a group no click belongs to.
        let web = || "web".to_owned();
        plant(
            &db.conn,
            AggregateRow::Daily {
                date: date(11),
                offer_id: 8,
                source: web(),
            },
            2,
        )
        .await;
        plant(
            &db.conn,
            AggregateRow::DailyOffer {
                date: date(11),
                offer_id: 8,
            },
            1,
        )
        .await;
        plant(
            &db.conn,
            AggregateRow::DailySource {
                date: date(11),
                source: web(),
            },
            1,
        )
        .await;
        plant(
            &db.conn,
            AggregateRow::DailySource {
                date: date(12),
                source: web(),
            },
            3,
        )
        .await;

        let checks = aggregates(&db.conn).await.expect("checks");
        let by_table = |table: &str| {
            checks
                .iter()
                .find(|check| check.table == table)
                .cloned()
                .expect("table checked")
        };
        let daily = by_table("click_daily_stats");
        assert_eq!((daily.wrong_groups, daily.over, daily.under), (1, 1, 0));
        assert_eq!(daily.total, 4, "2 + 2 in the daily table");
        let hourly = by_table("click_hourly_stats");
        assert_eq!((hourly.wrong_groups, hourly.over, hourly.under), (1, 0, 1));
        assert!(by_table("click_daily_offer_stats").is_exact());
        let source = by_table("click_daily_source_stats");
        assert_eq!((source.wrong_groups, source.over, source.under), (1, 3, 0));

        let keys = stored_keys(&db.conn, &names).await.expect("keys");
        assert_eq!(
            keys,
            vec![
                Some(ClickKey {
                    namespace: 0,
                    seq: 0
                }),
                Some(ClickKey {
                    namespace: 0,
                    seq: 1
                }),
                None
            ]
        );
        db.drop().await;
    }
}
