//! The contract's example answers, and the bearer key every report needs.

use crate::reports_support::{Api, add_daily};

use serde_json::{Value, json};
use testkit::TestDb;

use super::NO_CACHE;

#[tokio::test]
async fn the_contract_examples() {
    let db = TestDb::create().await;
    add_daily(
        &db,
        &[
            ("2024-01-01", 12345, "network_1", 2),
            ("2024-01-15", 777, "network_2", 1),
            ("2024-02-01", 12345, "network_1", 50),
        ],
    )
    .await;
    let api = Api::start(&db, NO_CACHE).await;

    let body = api
        .ok("/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-01")
        .await;
    assert_eq!(
        body,
        json!({"status":"success",
            "data":[{"date":"2024-01-01","offer_id":12345,"source":"network_1","clicks_count":2}],
            "pagination":{"current_page":1,"per_page":100,"total":1,"last_page":1,"from":1,"to":1},
            "filters":{"start_date":"2024-01-01","end_date":"2024-01-01","offer_id":null,"source":null},
            "sorting":{"sort_by":"clicks_count","sort_direction":"desc"}})
    );

    // No rows: from and to are null, last_page 1.
    let body = api
        .ok("/api/reports/aggregated?start_date=2023-01-01&end_date=2023-01-31")
        .await;
    assert_eq!(body["data"], json!([]));
    assert_eq!(
        body["pagination"],
        json!({"current_page":1,"per_page":100,"total":0,"last_page":1,"from":null,"to":null})
    );

    // Summary: exactly the contract's body, plus daily and the tops.
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-01-31")
        .await;
    assert_eq!(
        body["summary"],
        json!({"total_clicks":3,"unique_offers":2,"unique_sources":2,
               "date_range":{"start_date":"2024-01-01","end_date":"2024-01-31"}})
    );
    assert_eq!(body["status"], "success");
    let daily = body["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 31);
    assert_eq!(daily[0], json!({"date":"2024-01-01","clicks_count":2}));
    assert_eq!(daily[1], json!({"date":"2024-01-02","clicks_count":0}));
    assert_eq!(daily[14], json!({"date":"2024-01-15","clicks_count":1}));
    assert_eq!(
        body["top_offers"],
        json!([{"offer_id":12345,"clicks_count":2},{"offer_id":777,"clicks_count":1}])
    );
    assert_eq!(
        body["top_sources"],
        json!([{"source":"network_1","clicks_count":2},{"source":"network_2","clicks_count":1}])
    );

    // Summary filters.
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-02-29&offer_id=12345")
        .await;
    assert_eq!(body["summary"]["total_clicks"], 52);
    assert_eq!(body["summary"]["unique_offers"], 1);
    let body = api
        .ok("/api/reports/summary?start_date=2024-01-01&end_date=2024-02-29&source=network_2")
        .await;
    assert_eq!(body["summary"]["total_clicks"], 1);
    assert_eq!(body["filters"]["source"], "network_2");

    // Empty summary.
    let body = api
        .ok("/api/reports/summary?start_date=2020-01-01&end_date=2020-01-01")
        .await;
    assert_eq!(
        body["summary"],
        json!({"total_clicks":0,"unique_offers":0,"unique_sources":0,
               "date_range":{"start_date":"2020-01-01","end_date":"2020-01-01"}})
    );
    assert_eq!(body["top_offers"], json!([]));
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn reports_need_a_bearer_key() {
    let db = TestDb::create().await;
    let api = Api::start(&db, NO_CACHE).await;
    for path in [
        "/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-01",
        "/api/reports/summary?start_date=2024-01-01&end_date=2024-01-01",
        "/api/reports/aggregated",
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic test-key")] {
            let mut request = api.client.get(format!("{}{path}", api.base));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.expect("request");
            assert_eq!(response.status().as_u16(), 401, "{path} {auth:?}");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body, json!({"error": "Unauthorized"}));
        }
    }
    api.stop();
    db.drop().await;
}
