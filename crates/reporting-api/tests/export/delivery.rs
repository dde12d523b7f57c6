//! Delivering a day to Finance: chunks, retries, resuming a failed export, late clicks.

use crate::export_support as support;

use std::collections::HashSet;

use serde_json::{Value, json};
use support::*;
use testkit::TestDb;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn a_big_day_goes_in_chunks_each_with_the_days_total() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    insert_clicks(&db, DATE, 0, 12_345).await;
    let api = Api::start(settings(
        &db,
        &finance.uri(),
        &["--finance-export-chunk-size=5000"],
    ))
    .await;
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200);
    let requests = posts(&finance).await;
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| body(r)["clicks"].as_array().expect("clicks").len())
        .collect();
    assert_eq!(sizes, vec![5000, 5000, 2345]);
    for request in &requests {
        assert_eq!(body(request)["total_clicks"], 12_345);
        assert_eq!(body(request)["date"], DATE);
    }
    let keys: HashSet<String> = requests.iter().map(key).collect();
    assert_eq!(keys.len(), 3);
    let ids: HashSet<String> = click_ids(&requests).into_iter().collect();
    assert_eq!(ids.len(), 12_345);
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["clicks_sent"], 12_345);
    assert_eq!(data["data"]["chunks_sent"], 3);
    db.drop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_key_token_and_signature() {
    let db = TestDb::create().await;
    let finance = finance(Script::new(vec![
        ResponseTemplate::new(503),
        ResponseTemplate::new(429).insert_header("retry-after", "0"),
        ok(),
    ]))
    .await;
    insert_clicks(&db, DATE, 0, 10).await;
    let api = Api::start(settings(
        &db,
        &finance.uri(),
        &[
            "--finance-service-token=fin-token",
            "--finance-signing-secret=fin-secret",
        ],
    ))
    .await;
    let (status, answer) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200, "{answer}");
    let requests = posts(&finance).await;
    assert_eq!(requests.len(), 3);
    let first_key = key(&requests[0]);
    for request in &requests {
        assert_eq!(key(request), first_key);
        assert_eq!(request.body, requests[0].body);
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer fin-token")
        );
        let expected = domain::sign(b"fin-secret", &request.body);
        assert_eq!(
            request
                .headers
                .get("x-signature")
                .and_then(|v| v.to_str().ok()),
            Some(expected.as_str())
        );
    }
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["state"], "completed");
    assert_eq!(data["data"]["clicks_sent"], 10);
    db.drop().await;
}

#[tokio::test]
async fn a_failed_export_resumes_from_the_first_undelivered_chunk() {
    let db = TestDb::create().await;
    // The first chunk is taken; then Finance fails for good.
    let finance = finance(Script::new(vec![ok(), ResponseTemplate::new(500)])).await;
    insert_clicks(&db, DATE, 0, 12_000).await;
    let api = Api::start(settings(
        &db,
        &finance.uri(),
        &["--finance-export-chunk-size=5000"],
    ))
    .await;
    let (status, answer) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"], "Failed to forward clicks data");
    let first_run = posts(&finance).await;
    // Chunk 1 once, chunk 2 three times (two retries).
    assert_eq!(first_run.len(), 4);
    let failed_key = key(&first_run[1]);
    assert!(first_run[2..].iter().all(|r| key(r) == failed_key));
    let (_, data) = api.status(DATE).await;
    let data = &data["data"];
    assert_eq!(data["state"], "failed");
    assert_eq!(data["clicks_sent"], 5000);
    assert_eq!(data["undelivered_clicks"], 7000);
    assert_eq!(data["attempts"], 1);
    assert!(
        data["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{data}"
    );

    answer_with(&finance, ok()).await;
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200);
    let second_run = posts(&finance).await;
    let sizes: Vec<usize> = second_run
        .iter()
        .map(|r| body(r)["clicks"].as_array().expect("clicks").len())
        .collect();
    assert_eq!(sizes, vec![5000, 2000]);
    // The unacknowledged chunk is re-sent byte for byte, under its key.
    assert_eq!(key(&second_run[0]), failed_key);
    assert_eq!(second_run[0].body, first_run[1].body);
    let mut all = click_ids(&first_run[..1]);
    all.extend(click_ids(&second_run));
    assert_eq!(all.len(), 12_000);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 12_000);
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["state"], "completed");
    assert_eq!(data["data"]["attempts"], 2);
    assert_eq!(data["data"]["undelivered_clicks"], 0);
    assert_eq!(data["data"]["last_error"], Value::Null);
    db.drop().await;
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_its_answer_is_kept() {
    let db = TestDb::create().await;
    let finance =
        finance(ResponseTemplate::new(422).set_body_string(r#"{"error":"total_clicks mismatch"}"#))
            .await;
    insert_clicks(&db, DATE, 0, 5).await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;
    let (status, answer) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 502);
    assert_eq!(answer["error"], "Failed to forward clicks data");
    assert_eq!(posts(&finance).await.len(), 1);
    let (_, data) = api.status(DATE).await;
    let last_error = data["data"]["last_error"].as_str().expect("last_error");
    assert!(last_error.contains("422"), "{last_error}");
    assert!(last_error.contains("total_clicks mismatch"), "{last_error}");
    assert_eq!(data["data"]["state"], "failed");
    assert_eq!(data["data"]["clicks_sent"], 0);
    db.drop().await;
}

#[tokio::test]
async fn late_clicks_are_counted_and_delivered_by_the_next_run() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    for id in 100..105 {
        insert_click_with_id(&db, id, &format!("early-{id}"), DATE).await;
    }
    let api = Api::start(settings(
        &db,
        &finance.uri(),
        &["--finance-export-chunk-size=2"],
    ))
    .await;
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200);
    assert_eq!(click_ids(&posts(&finance).await).len(), 5);

    // Committed after the export, with a lower id than every exported click,
    // and one with a higher id.
    insert_click_with_id(&db, 50, "late-low", DATE).await;
    insert_click_with_id(&db, 200, "late-high", DATE).await;
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["state"], "completed");
    assert_eq!(data["data"]["undelivered_clicks"], 2);
    assert_eq!(data["data"]["clicks_count"], 7);

    answer_with(&finance, ok()).await;
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200);
    let requests = posts(&finance).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(click_ids(&requests), vec!["late-low", "late-high"]);
    assert_eq!(body(&requests[0])["total_clicks"], 7);
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["undelivered_clicks"], 0);
    assert_eq!(data["data"]["clicks_sent"], 7);
    db.drop().await;
}
