//! The reports dashboard: its page and assets under a strict CSP, the
//! session that stands in for the key, and the hourly series its chart reads.
//! (The page itself is exercised in Chromium by `scripts/dashboard-test.sh`.)

use crate::reports_support as support;

use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION, SET_COOKIE,
};
use serde_json::{Value, json};
use support::{Api, KEY, add_clicks, cookie_of, series};
use testkit::TestDb;

const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_under_a_strict_csp() {
    let db = TestDb::create().await;
    let api = Api::start(&db, &[]).await;
    let client = no_redirects();

    let root = client
        .get(format!("{}/", api.base))
        .send()
        .await
        .expect("GET /");
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()[LOCATION], "/dashboard");

    let page = client
        .get(format!("{}/dashboard", api.base))
        .send()
        .await
        .expect("GET /dashboard");
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()[CONTENT_SECURITY_POLICY],
        reporting_api::dashboard::CONTENT_SECURITY_POLICY
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    // The CSP allows no inline script, handler or style: the page has none.
    let lower = html.to_lowercase();
    assert!(!lower.contains("<style"), "an inline <style>");
    assert!(!lower.contains(" style="), "a style attribute");
    assert!(
        !lower
            .split('<')
            .any(|tag| tag.starts_with("script") && !tag.contains("src=")),
        "an inline <script>"
    );
    assert!(
        !lower
            .split_whitespace()
            .any(|word| word.starts_with("on") && word.contains("=\"")),
        "an inline event handler"
    );

    let mut weight = html.len();
    for (name, kind) in [
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
    ] {
        let url = format!("{}/dashboard/assets/{name}", api.base);
        assert!(
            html.contains(&format!("/dashboard/assets/{name}")),
            "{name} is not linked"
        );
        let response = client.get(&url).send().await.expect("asset");
        assert_eq!(response.status(), 200, "{name}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with(kind),
            "{name}"
        );
        assert!(
            response.headers().contains_key(CONTENT_SECURITY_POLICY),
            "{name}"
        );
        let etag = response.headers()[ETAG].clone();
        weight += response.bytes().await.expect("body").len();
        let again = client
            .get(&url)
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .expect("revalidation");
        assert_eq!(again.status(), 304, "{name}");
    }
    assert_eq!(weight, reporting_api::dashboard::page_weight());

    let missing = client
        .get(format!("{}/dashboard/assets/../Cargo.toml", api.base))
        .send()
        .await
        .expect("unknown asset");
    assert_eq!(missing.status(), 404);
    let missing = client
        .get(format!("{}/dashboard/assets/nothing.js", api.base))
        .send()
        .await
        .expect("unknown asset");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("json"),
        json!({"error": "Not found"})
    );
    api.stop();
    db.drop().await;
}

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

#[tokio::test]
async fn the_summary_lists_every_local_hour_on_request() {
    let db = TestDb::create().await;
    for (hour, offer_id, clicks) in [
        ("2024-03-10 05:00:00", 1, 3), // 00:00 EST in New York
        ("2024-03-10 23:00:00", 2, 2), // 19:00 EDT
        ("2024-03-11 02:00:00", 1, 4), // 22:00 EDT, still 10 March there
        ("2024-03-11 05:00:00", 1, 9), // 11 March everywhere
    ] {
        add_clicks(&db, hour, offer_id, "net", clicks).await;
    }
    let api = Api::start(&db, NO_CACHE).await;

    let plain = api
        .ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10")
        .await;
    assert!(plain.get("hourly").is_none(), "{plain}");

    let utc = api
        .ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10&interval=hour")
        .await;
    let hours = series(&utc, "hourly", "hour");
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0], ("2024-03-10T00:00:00".into(), 0));
    assert_eq!(hours[5], ("2024-03-10T05:00:00".into(), 3));
    assert_eq!(hours[23], ("2024-03-10T23:00:00".into(), 2));
    assert_eq!(hours.iter().map(|(_, c)| c).sum::<u64>(), 5);
    assert_eq!(utc["summary"]["total_clicks"], 5);

    // The day clocks went forward in New York has 23 hours, and 02:00 none.
    let new_york = api
        .ok(
            "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10\
             &timezone=America/New_York&interval=hour",
        )
        .await;
    let hours = series(&new_york, "hourly", "hour");
    assert_eq!(hours.len(), 23);
    assert!(!hours.iter().any(|(hour, _)| hour == "2024-03-10T02:00:00"));
    let nonzero: Vec<_> = hours.iter().filter(|(_, c)| *c > 0).cloned().collect();
    assert_eq!(
        nonzero,
        [
            ("2024-03-10T00:00:00".into(), 3),
            ("2024-03-10T19:00:00".into(), 2),
            ("2024-03-10T22:00:00".into(), 4),
        ]
    );
    assert_eq!(new_york["summary"]["total_clicks"], 9);

    // Filters apply to the hours as to everything else.
    let offer = api
        .ok(
            "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10\
             &timezone=America/New_York&interval=hour&offer_id=1",
        )
        .await;
    assert_eq!(
        series(&offer, "hourly", "hour")
            .iter()
            .map(|(_, c)| c)
            .sum::<u64>(),
        7
    );

    for (query, reason) in [
        ("interval=minute", "The selected interval is invalid."),
        (
            "interval=hour&end_date=2024-04-10",
            "The interval hour allows at most 31 days.",
        ),
    ] {
        let (status, body) = api
            .get(&format!(
                "/api/reports/summary?start_date=2024-03-10&end_date=2024-03-10&{query}"
            ))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["details"]["interval"], json!([reason]), "{query}");
    }
    api.ok("/api/reports/summary?start_date=2024-03-10&end_date=2024-04-09&interval=hour")
        .await;
    api.stop();
    db.drop().await;
}
