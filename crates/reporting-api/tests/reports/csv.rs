//! The aggregated report as CSV: the same rows, by `format=csv` or `Accept`.

use crate::reports_support as support;

use support::{Api, add_daily};
use testkit::TestDb;

use super::NO_CACHE;

#[tokio::test]
async fn csv_has_the_same_rows() {
    let db = TestDb::create().await;
    add_daily(
        &db,
        &[
            ("2024-01-01", 12345, "network_1", 2),
            ("2024-01-02", 7, "with,comma \"q\"", 5),
        ],
    )
    .await;
    let api = Api::start(&db, NO_CACHE).await;
    let range = "start_date=2024-01-01&end_date=2024-01-31";
    let response = api
        .get_raw(&format!("/api/reports/aggregated?{range}&format=csv"))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.text().await.expect("text"),
        "date,offer_id,source,clicks_count\r\n\
         2024-01-02,7,\"with,comma \"\"q\"\"\",5\r\n\
         2024-01-01,12345,network_1,2\r\n"
    );

    // Accept: text/csv chooses CSV too; group_by and paging apply.
    let response = api
        .client
        .get(format!(
            "{}/api/reports/aggregated?{range}&group_by=offer_id&sort_by=offer_id&sort_direction=asc&limit=1&page=2",
            api.base
        ))
        .bearer_auth(support::KEY)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.text().await.expect("text"),
        "offer_id,clicks_count\r\n12345,2\r\n"
    );

    // No rows: the header alone.
    let response = api
        .get_raw("/api/reports/aggregated?start_date=2020-01-01&end_date=2020-01-01&format=csv")
        .await;
    assert_eq!(
        response.text().await.expect("text"),
        "date,offer_id,source,clicks_count\r\n"
    );

    // Invalid CSV requests are JSON 400s like any other.
    let (status, _) = api.get("/api/reports/aggregated?format=csv").await;
    assert_eq!(status, 400);
    api.stop();
    db.drop().await;
}
