//! The dashboard session: it stands for its key on report reads, until logout or rotation.

use crate::reports_support as support;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use support::{Api, KEY, add_clicks, cookie_of};
use testkit::TestDb;

/// `POST /dashboard/session` with `body` as JSON; the response.
async fn login(api: &Api, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = api
        .client
        .post(format!("{}/dashboard/session", api.base))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("login")
}

/// `method path` with only the cookie; the status.
async fn with_cookie(api: &Api, method: reqwest::Method, path: &str, cookie: &str) -> u16 {
    api.client
        .request(method, format!("{}{path}", api.base))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"date":"2024-01-01"}"#)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_session_stands_for_its_key_on_report_reads_only_until_logout() {
    use reqwest::Method;
    let db = TestDb::create().await;
    add_clicks(&db, "2024-01-02 10:00:00", 7, "net", 3).await;
    let api = Api::start(&db, &[]).await;
    let summary = "/api/reports/summary?start_date=2024-01-01&end_date=2024-01-03";

    let wrong = login(&api, &json!({"key": "not-the-key"}), &[]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert_eq!(
        wrong.json::<Value>().await.expect("json"),
        json!({"error": "Invalid reporting key"})
    );
    for (body, field) in [
        (json!({}), "key"),
        (json!({"key": 5}), "key"),
        (json!(["k"]), "body"),
    ] {
        let refused = login(&api, &body, &[]).await;
        assert_eq!(refused.status(), 400, "{body}");
        let error: Value = refused.json().await.expect("json");
        assert!(error["details"][field].is_array(), "{error}");
    }
    let form = api
        .client
        .post(format!("{}/dashboard/session", api.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("key={KEY}"))
        .send()
        .await
        .expect("form login");
    assert_eq!(form.status(), 415);

    let opened = login(&api, &json!({"key": KEY}), &[]).await;
    assert_eq!(opened.status(), 200);
    let set_cookie = opened.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(set_cookie.contains(part), "{set_cookie} lacks {part}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    assert!(!set_cookie.contains(KEY), "{set_cookie}");
    let cookie = cookie_of(&opened);
    let described: Value = opened.json().await.expect("json");
    assert_eq!(described["scopes"], json!(["reports:read"]));
    assert_eq!(described["expires_in"], 3600);
    assert!(described["expires_at"].is_string(), "{described}");

    // Behind TLS (as the proxy says) the cookie is Secure.
    let secure = login(
        &api,
        &json!({"key": KEY}),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(
        secure.headers()[SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Secure")
    );

    // The cookie reads every report form, and answers as the key does.
    let by_key = api.ok(summary).await;
    let by_cookie: Value = api
        .client
        .get(format!("{}{summary}", api.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(by_cookie, by_key);
    assert_eq!(by_cookie["summary"]["total_clicks"], 3);
    for path in [
        summary.to_owned(),
        format!("{summary}&interval=hour"),
        "/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-03&group_by=source".into(),
        "/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-03&format=csv".into(),
        "/dashboard/session".into(),
    ] {
        assert_eq!(
            with_cookie(&api, Method::GET, &path, &cookie).await,
            200,
            "{path}"
        );
    }
    // …but not the export: that wants the key itself.
    assert_eq!(
        with_cookie(
            &api,
            Method::GET,
            "/api/export/status?date=2024-01-01",
            &cookie
        )
        .await,
        401
    );
    assert_eq!(
        with_cookie(&api, Method::POST, "/api/export/forward", &cookie).await,
        401
    );
    // A wrong Authorization header is not rescued by the cookie.
    let header_wins = api
        .client
        .get(format!("{}{summary}", api.base))
        .header(COOKIE, &cookie)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("summary");
    assert_eq!(header_wins.status(), 401);
    // No cookie, a forged one, or one of the wrong shape: 401.
    for forged in [
        "clicks_session=".to_owned(),
        format!("clicks_session={}", "0".repeat(64)),
        "clicks_session=../../etc".to_owned(),
    ] {
        assert_eq!(
            with_cookie(&api, Method::GET, summary, &forged).await,
            401,
            "{forged}"
        );
    }

    let closed = api
        .client
        .delete(format!("{}/dashboard/session", api.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(closed.status(), 204);
    let removal = closed.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(with_cookie(&api, Method::GET, summary, &cookie).await, 401);
    assert_eq!(
        with_cookie(&api, Method::GET, "/dashboard/session", &cookie).await,
        401
    );
    assert_eq!(
        with_cookie(&api, Method::PUT, "/dashboard/session", &cookie).await,
        405
    );
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn a_session_ends_when_its_key_is_no_longer_configured() {
    let db = TestDb::create().await;
    let api = Api::start(&db, &["--dashboard-session-minutes=2"]).await;
    let opened = login(&api, &json!({"key": KEY}), &[]).await;
    assert_eq!(opened.status(), 200);
    assert!(
        opened.headers()[SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=120")
    );
    let cookie = cookie_of(&opened);
    let summary = "/api/reports/summary?start_date=2024-01-01&end_date=2024-01-01";
    assert_eq!(
        with_cookie(&api, reqwest::Method::GET, summary, &cookie).await,
        200
    );

    // The same Redis, another replica whose keys were rotated: the session
    // of the removed key opens nothing there.
    let rotated = Api::start(&db, &["--reporting-api-keys=the-new-key"]).await;
    assert_eq!(
        with_cookie(&rotated, reqwest::Method::GET, summary, &cookie).await,
        401
    );
    assert_eq!(
        with_cookie(
            &rotated,
            reqwest::Method::GET,
            "/dashboard/session",
            &cookie
        )
        .await,
        401
    );
    assert_eq!(
        with_cookie(&api, reqwest::Method::GET, summary, &cookie).await,
        200
    );
    rotated.stop();
    api.stop();
    db.drop().await;
}
