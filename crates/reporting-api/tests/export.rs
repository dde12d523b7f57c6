//! The Finance export (contract: Export to Finance) against real MariaDB, with wiremock as Finance.

use crate::export_support as support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reporting_api::export::record::{self, Lease};
use reporting_api::export::{ExitStatus, ExportArgs, export_dates};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use support::*;
use testkit::TestDb;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn forwards_a_days_clicks_and_shows_the_record() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    insert_click_with_id(&db, 1, "click-a", DATE).await;
    insert_click_with_id(&db, 2, "click-b", DATE).await;
    insert_click_with_id(&db, 3, "other-day", "2025-06-11").await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;

    let (status, body_json) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200, "{body_json}");
    assert_eq!(body_json["status"], "success");
    assert_eq!(
        body_json["message"],
        "Clicks data successfully forwarded to Finance service"
    );
    assert_eq!(body_json["date"], DATE);

    let requests = posts(&finance).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        body(&requests[0]),
        json!({"date": DATE, "total_clicks": 2, "clicks": [
            {"click_id": "click-a", "offer_id": 7, "source": "net",
             "timestamp": "2025-06-10T08:00:00.000000Z", "signature": "sig"},
            {"click_id": "click-b", "offer_id": 7, "source": "net",
             "timestamp": "2025-06-10T08:00:00.000000Z", "signature": "sig"},
        ]})
    );
    assert!(key(&requests[0]).starts_with("clicks-20250610-"));
    assert!(requests[0].headers.get("authorization").is_none());
    assert!(requests[0].headers.get("x-signature").is_none());

    let (status, status_json) = api.status(DATE).await;
    assert_eq!(status, 200);
    let data = &status_json["data"];
    assert_eq!(status_json["status"], "success");
    assert_eq!(data["date"], DATE);
    assert_eq!(data["finance_service_available"], true);
    assert_eq!(data["export_ready"], true);
    assert_eq!(data["state"], "completed");
    assert_eq!(data["clicks_sent"], 2);
    assert_eq!(data["total_clicks"], 2);
    assert_eq!(data["undelivered_clicks"], 0);
    assert_eq!(data["attempts"], 1);
    assert_eq!(data["last_error"], Value::Null);
    assert!(
        data["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        data["finished_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // Nothing new: a second run sends nothing and succeeds.
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 200);
    assert_eq!(posts(&finance).await.len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn a_date_without_clicks_succeeds_and_status_of_an_unexported_date() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;
    let (status, data) = api.status("2025-01-01").await;
    assert_eq!(status, 200);
    assert_eq!(data["data"]["state"], Value::Null);
    assert_eq!(data["data"]["export_ready"], true);
    assert_eq!(data["data"]["clicks_count"], 0);
    let (status, body_json) = api.forward(json!({"date": "2025-01-01"})).await;
    assert_eq!(status, 200, "{body_json}");
    assert_eq!(body_json["date"], "2025-01-01");
    assert!(posts(&finance).await.is_empty());
    let (_, data) = api.status("2025-01-01").await;
    assert_eq!(data["data"]["state"], "completed");
    db.drop().await;
}

#[tokio::test]
async fn finance_down_is_503_and_shown_in_the_status() {
    let db = TestDb::create().await;
    let finance = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&finance)
        .await;
    insert_clicks(&db, DATE, 0, 3).await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;
    let (status, body_json) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 503);
    assert_eq!(body_json["error"], "Finance service is not available");
    let (status, data) = api.status(DATE).await;
    assert_eq!(status, 200);
    assert_eq!(data["data"]["finance_service_available"], false);
    assert_eq!(data["data"]["export_ready"], false);
    assert_eq!(data["data"]["undelivered_clicks"], 3);
    assert!(posts(&finance).await.is_empty());

    // Nothing listening at all.
    let api = Api::start(settings(&db, "http://127.0.0.1:1", &[])).await;
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 503);
    db.drop().await;
}

#[tokio::test]
async fn invalid_or_future_dates_are_400() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;
    for body_json in [
        json!({}),
        json!({"date": "2025-13-01"}),
        json!({"date": "10/06/2025"}),
        json!({"date": 20250610}),
        json!({"date": "2999-01-01"}),
    ] {
        let (status, answer) = api.forward(body_json.clone()).await;
        assert_eq!(status, 400, "{body_json}");
        assert_eq!(answer["error"], "Validation failed");
        assert!(answer["details"]["date"][0].is_string(), "{answer}");
    }
    let (status, answer) = api.status("yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "Validation failed");
    assert!(posts(&finance).await.is_empty());
    db.drop().await;
}

/// Every way a forward request can be malformed gets the contract's JSON
/// error and the right status, and nothing reaches Finance.
#[tokio::test]
async fn malformed_forward_requests_get_json_errors() {
    let db = TestDb::create().await;
    let finance = finance(ok()).await;
    let api = Api::start(settings(&db, &finance.uri(), &[])).await;
    let send = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut request = api
            .client
            .post(format!("{}/api/export/forward", api.base))
            .bearer_auth(support::KEY)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.expect("forward");
            let status = response.status().as_u16();
            let is_json = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("application/json"));
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, is_json, body)
        }
    };
    let json = Some("application/json");
    let big = format!(
        "{{\"date\":\"2024-01-01\",\"pad\":\"{}\"}}",
        "x".repeat(20_000)
    );
    for (content_type, body, status, field, reason) in [
        (
            json,
            big.into_bytes(),
            413,
            "body",
            "must not be larger than",
        ),
        (
            json,
            br#"{"date":"2024-01-01"}xx"#.to_vec(),
            400,
            "body",
            "valid JSON",
        ),
        (
            json,
            br#"["2024-01-01"]"#.to_vec(),
            400,
            "body",
            "JSON object",
        ),
        (
            json,
            br#"{"date":"2023-03-01","date":"2023-03-02"}"#.to_vec(),
            400,
            "body",
            "duplicate field",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"date=2024-01-01".to_vec(),
            415,
            "content_type",
            "application/json",
        ),
        (
            None,
            br#"{"date":"2024-01-01"}"#.to_vec(),
            415,
            "content_type",
            "application/json",
        ),
        (
            Some("text/plain"),
            br#"{"date":"2024-01-01"}"#.to_vec(),
            415,
            "content_type",
            "application/json",
        ),
    ] {
        let (got, is_json, answer) = send(content_type, body).await;
        assert_eq!(got, status, "{content_type:?}: {answer}");
        assert!(is_json, "{content_type:?}: a JSON body");
        assert!(
            answer["details"][field][0]
                .as_str()
                .is_some_and(|text| text.contains(reason)),
            "{content_type:?}: {answer}"
        );
    }
    // A repeated query name keeps its last value, as in the reports.
    let response = api
        .client
        .get(format!(
            "{}/api/export/status?date=x&date=2024-01-01",
            api.base
        ))
        .bearer_auth(support::KEY)
        .send()
        .await
        .expect("status");
    assert_eq!(response.status().as_u16(), 200);
    let (status, answer) = api.status("2024-01-01&date=nope").await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["details"]["date"][0].is_string(), "{answer}");
    assert!(posts(&finance).await.is_empty());
    db.drop().await;
}

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

    finance.reset().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&finance)
        .await;
    Mock::given(method("POST"))
        .and(path("/clicks"))
        .respond_with(ok())
        .mount(&finance)
        .await;
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
async fn only_one_export_of_a_date_runs_at_a_time() {
    let db = TestDb::create().await;
    let finance = finance(ok().set_delay(Duration::from_millis(700))).await;
    insert_clicks(&db, DATE, 0, 10).await;
    let api = Arc::new(Api::start(settings(&db, &finance.uri(), &[])).await);
    let (a, b) = tokio::join!(
        api.forward(json!({"date": DATE})),
        api.forward(json!({"date": DATE}))
    );
    let mut statuses = vec![a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409], "{a:?} {b:?}");
    let conflict = if a.0 == 409 { a.1 } else { b.1 };
    assert_eq!(conflict, json!({"error": "Export already running"}));
    assert_eq!(posts(&finance).await.len(), 1);

    // The CLI meets a lease held elsewhere: non-zero exit, nothing sent.
    let settings = settings(&db, &finance.uri(), &[]);
    let lease = Lease {
        date: date(),
        owner: "another-host:1:0".to_owned(),
        seconds: 300,
    };
    assert!(
        record::acquire(&db.conn, &lease)
            .await
            .expect("acquire")
            .is_some()
    );
    let args = ExportArgs {
        date: Some(DATE.to_owned()),
        from: None,
        to: None,
    };
    assert_eq!(export_dates(&settings, &args).await, ExitStatus::Busy);
    let (status, _) = api.forward(json!({"date": DATE})).await;
    assert_eq!(status, 409);

    // A crashed exporter's lease runs out and the date can be exported again.
    db.conn
        .execute_unprepared(
            "UPDATE click_exports SET lease_expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
        )
        .await
        .expect("expire");
    let (_, data) = api.status(DATE).await;
    assert_eq!(data["data"]["state"], "failed");
    insert_clicks(&db, DATE, 10, 1).await;
    assert_eq!(export_dates(&settings, &args).await, ExitStatus::Delivered);
    assert_eq!(click_ids(&posts(&finance).await).len(), 11);
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

    finance.reset().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&finance)
        .await;
    Mock::given(method("POST"))
        .and(path("/clicks"))
        .respond_with(ok())
        .mount(&finance)
        .await;
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

#[tokio::test]
async fn the_cli_exits_zero_only_when_everything_was_delivered() {
    let db = TestDb::create().await;
    insert_clicks(&db, "2025-06-01", 0, 3).await;
    insert_clicks(&db, "2025-06-02", 0, 4).await;
    let range = ExportArgs {
        date: None,
        from: Some("2025-06-01".to_owned()),
        to: Some("2025-06-03".to_owned()),
    };

    let failing = finance(ResponseTemplate::new(500)).await;
    let status = export_dates(&settings(&db, &failing.uri(), &[]), &range).await;
    assert_eq!(status, ExitStatus::Failed);
    // Three attempts per failing date (two retries), one per date with clicks.
    assert_eq!(posts(&failing).await.len(), 6);

    let finance = finance(ok()).await;
    let settings = settings(&db, &finance.uri(), &[]);
    assert_eq!(export_dates(&settings, &range).await, ExitStatus::Delivered);
    assert_eq!(click_ids(&posts(&finance).await).len(), 7);

    let bad = ExportArgs {
        date: Some("2025-02-30".to_owned()),
        from: None,
        to: None,
    };
    assert_eq!(export_dates(&settings, &bad).await, ExitStatus::Usage);
    let code = reporting_api::export::run_cli(settings, range).await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    db.drop().await;
}
