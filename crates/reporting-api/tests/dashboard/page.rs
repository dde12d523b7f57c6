//! The dashboard page and its assets, under a strict CSP.

use crate::reports_support::Api;

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use serde_json::{Value, json};
use testkit::TestDb;

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
