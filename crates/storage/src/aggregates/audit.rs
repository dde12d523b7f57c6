//! The aggregates set against the clicks they count: for tests, the chaos
//! suite and operators, the one place that knows how each aggregate table
//! is counted from `clicks`.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// One aggregate table and how to count its rows from `clicks`.
struct Aggregate {
    table: &'static str,
    /// Its key columns.
    keys: &'static [&'static str],
    /// The same keys computed from a row of `clicks`, in the same order.
    from_clicks: &'static [&'static str],
}

const AGGREGATES: [Aggregate; 4] = [
    Aggregate {
        table: "click_daily_stats",
        keys: &["click_date", "offer_id", "source"],
        from_clicks: &["click_date", "offer_id", "source"],
    },
    Aggregate {
        table: "click_hourly_stats",
        keys: &["click_hour", "offer_id", "source"],
        from_clicks: &[
            "CAST(DATE_FORMAT(clicked_at, '%Y-%m-%d %H:00:00') AS DATETIME)",
            "offer_id",
            "source",
        ],
    },
    Aggregate {
        table: "click_daily_offer_stats",
        keys: &["click_date", "offer_id"],
        from_clicks: &["click_date", "offer_id"],
    },
    Aggregate {
        table: "click_daily_source_stats",
        keys: &["click_date", "source"],
        from_clicks: &["click_date", "source"],
    },
];

/// How far one aggregate table is from the count over `clicks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateCheck {
    pub table: &'static str,
    /// Groups whose count differs.
    pub wrong_groups: u64,
    /// Clicks counted beyond the rows (summed over the groups).
    pub over: u64,
    /// Rows not counted.
    pub under: u64,
    /// The table's `SUM(clicks_count)`.
    pub total: u64,
}

impl AggregateCheck {
    pub fn is_exact(&self) -> bool {
        self.wrong_groups == 0
    }
}

/// Sets every aggregate table against `GROUP BY` counts over `clicks`.
pub async fn audit(db: &impl ConnectionTrait) -> Result<Vec<AggregateCheck>, DbErr> {
    let mut checks = Vec::with_capacity(AGGREGATES.len());
    for aggregate in &AGGREGATES {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                difference_sql(aggregate),
            ))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("no row comparing {}", aggregate.table)))?;
        let number = |column: &str| -> Result<u64, DbErr> {
            let value: Option<i64> = row.try_get("", column)?;
            Ok(value.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
        };
        checks.push(AggregateCheck {
            table: aggregate.table,
            wrong_groups: number("wrong_groups")?,
            over: number("over_counted")?,
            under: number("under_counted")?,
            total: number("total")?,
        });
    }
    Ok(checks)
}

/// Per key, the table's count minus the count over `clicks`; the groups
/// where that is not 0, with the sums of what is too much and too little,
/// and the table's total.
fn difference_sql(aggregate: &Aggregate) -> String {
    let keys: Vec<String> = (0..aggregate.keys.len()).map(|i| format!("k{i}")).collect();
    let table_keys: Vec<String> = aggregate
        .keys
        .iter()
        .zip(&keys)
        .map(|(column, alias)| format!("{column} AS {alias}"))
        .collect();
    let click_keys = aggregate.from_clicks.join(", ");
    format!(
        "SELECT COUNT(*) AS wrong_groups, \
         CAST(COALESCE(SUM(GREATEST(d, 0)), 0) AS SIGNED) AS over_counted, \
         CAST(COALESCE(SUM(GREATEST(-d, 0)), 0) AS SIGNED) AS under_counted, \
         (SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM {table}) AS total FROM ( \
           SELECT {keys}, SUM(n) AS d FROM ( \
             SELECT {table_keys}, CAST(clicks_count AS SIGNED) AS n FROM {table} \
             UNION ALL \
             SELECT {click_keys}, -COUNT(*) FROM clicks GROUP BY {click_keys} \
           ) AS counted GROUP BY {keys} HAVING SUM(n) <> 0 \
         ) AS differences",
        keys = keys.join(", "),
        table_keys = table_keys.join(", "),
        table = aggregate.table,
    )
}
