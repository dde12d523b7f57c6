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
    use sea_orm::ConnectionTrait;

    use super::*;
    use crate::clicks::ClickKey;

    async fn execute(db: &DatabaseConnection, sql: &str) {
        db.execute_unprepared(sql).await.expect(sql);
    }

    fn insert_click(id: &str, offer: u64, source: &str, at: &str) -> String {
        format!(
            "INSERT INTO clicks (click_id, offer_id, source, clicked_at, click_date, signature, \
             received_at, batch_token) VALUES ('{id}', {offer}, '{source}', '{at}', DATE('{at}'), \
             's', '{at}', 1)"
        )
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
        execute(
            &db.conn,
            &insert_click(&first, 7, "net", "2025-06-10 13:20:00"),
        )
        .await;
        execute(
            &db.conn,
            &insert_click(&second, 7, "net", "2025-06-10 13:40:00"),
        )
        .await;
        execute(
            &db.conn,
            &insert_click("stranger", 8, "web", "2025-06-11 01:00:00"),
        )
        .await;
        // Exact counts for the first two clicks, as the worker writes them.
        execute(
            &db.conn,
            "INSERT INTO click_daily_stats VALUES ('2025-06-10', 7, 'net', 2)",
        )
        .await;
        execute(
            &db.conn,
            "INSERT INTO click_hourly_stats VALUES ('2025-06-10 13:00:00', 7, 'net', 2)",
        )
        .await;
        execute(
            &db.conn,
            "INSERT INTO click_daily_offer_stats VALUES ('2025-06-10', 7, 2)",
        )
        .await;
        execute(
            &db.conn,
            "INSERT INTO click_daily_source_stats VALUES ('2025-06-10', 'net', 2)",
        )
        .await;
        // The third click: counted twice daily, never hourly, once per offer,
        // and the source table has a group no click belongs to.
        execute(
            &db.conn,
            "INSERT INTO click_daily_stats VALUES ('2025-06-11', 8, 'web', 2)",
        )
        .await;
        execute(
            &db.conn,
            "INSERT INTO click_daily_offer_stats VALUES ('2025-06-11', 8, 1)",
        )
        .await;
        execute(&db.conn, "INSERT INTO click_daily_source_stats VALUES ('2025-06-11', 'web', 1), ('2025-06-12', 'web', 3)").await;

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
