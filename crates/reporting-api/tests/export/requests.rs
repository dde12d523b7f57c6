//! The export's endpoints: a forward and its status, Finance down, invalid requests.

use crate::export_support as support;

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
