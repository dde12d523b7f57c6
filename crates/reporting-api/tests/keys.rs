//! Reporting keys: the scope each route wants (401 for a key not in force,
//! 403 for one without the scope), keys given by their SHA-256 (as the
//! `keys new` command prints them), the keys file followed without a
//! restart, and the one line a broken keys file stops the start with.

use crate::keys_support::{KeysFile, entry, forbidden, forward_as, json_as, ok_as};
use crate::reports_support::{self as support, Api, KEY};

use clap::Parser;
use reporting_api::{Application, ConfigurationError, Settings};
use serde_json::{Value, json};
use testkit::TestDb;
use testkit::metrics::{metric, scrape};
use tokio_util::sync::CancellationToken;

const SUMMARY: &str = "/api/reports/summary?start_date=2024-01-01&end_date=2024-01-02";
const AGGREGATED: &str = "/api/reports/aggregated?start_date=2024-01-01&end_date=2024-01-02";
const STATUS: &str = "/api/export/status?date=2024-01-01";

/// `hashed-key`, known to the API only by its SHA-256.
const HASHED_KEY: &str = "hashed-key";

fn scoped_file() -> KeysFile {
    let hashed = hex::encode(domain::access::key_digest(HASHED_KEY.as_bytes()));
    KeysFile::new(&format!(
        "[[sender]]\nname = \"network-a\"\nsources = [\"net\"]\nkeys = [\"sender-secret\"]\n\n{}{}{}\
         [[reporting_key]]\nname = \"hashed\"\nsha256 = \"{hashed}\"\nscopes = [\"reports:read\"]\n",
        entry("reader", "reader-key", &["reports:read"], ""),
        entry(
            "exporter",
            "exporter-key",
            &["export:read", "export:write"],
            ""
        ),
        entry("watcher", "watcher-key", &["export:read"], ""),
    ))
}

#[tokio::test]
async fn every_route_wants_its_scope() {
    let db = TestDb::create().await;
    support::add_clicks(&db, "2024-01-01 10:00:00", 7, "net", 3).await;
    let file = scoped_file();
    let api = Api::start(
        &db,
        &[&file.flag(), "--finance-service-url=http://127.0.0.1:1"],
    )
    .await;

    // reports:read only: the reports, not the export.
    assert_eq!(
        ok_as(&api, "reader-key", SUMMARY).await["summary"]["total_clicks"],
        3
    );
    ok_as(&api, "reader-key", AGGREGATED).await;
    assert_eq!(
        json_as(&api, "reader-key", STATUS).await,
        (403, forbidden("export:read"))
    );
    assert_eq!(
        forward_as(&api, "reader-key", r#"{"date":"2024-01-01"}"#).await,
        (403, forbidden("export:write"))
    );

    // The export scopes only: the export (a 400 for the body is past the
    // key), not the reports.
    for path in [SUMMARY, AGGREGATED, &format!("{AGGREGATED}&format=csv")] {
        assert_eq!(
            json_as(&api, "exporter-key", path).await,
            (403, forbidden("reports:read")),
            "{path}"
        );
    }
    assert_eq!(json_as(&api, "exporter-key", STATUS).await.0, 200);
    assert_eq!(forward_as(&api, "exporter-key", "{}").await.0, 400);
    assert_eq!(json_as(&api, "watcher-key", STATUS).await.0, 200);
    assert_eq!(
        forward_as(&api, "watcher-key", "{}").await,
        (403, forbidden("export:write"))
    );

    // A key in no list, no key, a name or a digest in place of a key: 401
    // on every route, as before.
    let digest = hex::encode(domain::access::key_digest(HASHED_KEY.as_bytes()));
    for key in ["unknown-key", "", "hashed", &digest] {
        for path in [SUMMARY, STATUS] {
            let response = api.get_raw_as(key, path).await;
            assert_eq!(response.status(), 401, "{key:?} {path}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_eq!(
                response.json::<Value>().await.expect("json"),
                json!({"error": "Unauthorized"})
            );
        }
        assert_eq!(forward_as(&api, key, "{}").await.0, 401, "{key:?}");
    }

    // The file's entry given by its SHA-256 opens what its scopes say.
    assert_eq!(
        ok_as(&api, HASHED_KEY, SUMMARY).await["summary"]["total_clicks"],
        3
    );
    assert_eq!(
        json_as(&api, HASHED_KEY, STATUS).await,
        (403, forbidden("export:read"))
    );

    // REPORTING_API_KEYS still opens everything, besides the file.
    ok_as(&api, KEY, SUMMARY).await;
    assert_eq!(json_as(&api, KEY, STATUS).await.0, 200);
    assert_eq!(forward_as(&api, KEY, "{}").await.0, 400);

    // The dashboard's login wants reports:read too.
    let login = |key: &'static str| {
        api.client
            .post(format!("{}/dashboard/session", api.base))
            .json(&json!({ "key": key }))
            .send()
    };
    let refused = login("exporter-key").await.expect("login");
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
    assert_eq!(
        refused.json::<Value>().await.expect("json"),
        forbidden("reports:read")
    );
    let opened = login("reader-key").await.expect("login");
    assert_eq!(opened.status(), 200);
    assert_eq!(
        opened.json::<Value>().await.expect("json")["name"],
        "reader"
    );

    // And the document lists the 403 of every guarded route.
    let doc = ok_as(&api, KEY, "/api/openapi.json").await;
    for (method, path) in [
        ("get", "/api/reports/aggregated"),
        ("get", "/api/reports/summary"),
        ("post", "/api/export/forward"),
        ("get", "/api/export/status"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["403"].is_object(),
            "{method} {path}"
        );
    }
    api.stop();
    file.remove();
    db.drop().await;
}

/// Runs the built binary's `keys new`, away from any `.env` and without a
/// database; its standard output.
fn keys_new(args: &[&str]) -> String {
    let dir = std::env::temp_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reporting-api"))
        .args(["keys", "new"])
        .args(args)
        .current_dir(&dir)
        .env("DATABASE_URL", "mysql://nobody@127.0.0.1:1/none")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .expect("run reporting-api keys new");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn a_key_made_by_keys_new_works_from_its_sha256_entry() {
    let printed = keys_new(&["--name=partner-a", "--scope=reports:read", "--source=net"]);
    assert!(printed.contains("shown only now"), "{printed}");
    let key = printed
        .lines()
        .find(|line| line.starts_with("    "))
        .expect("the key line")
        .trim()
        .to_owned();
    let at = printed.find("[[reporting_key]]").expect("the entry");
    let entry = &printed[at..];
    assert!(!entry.contains(&key), "the entry holds the key: {entry}");
    let parsed = domain::access::parse(entry).expect("the keys file accepts the entry");
    let made = &parsed.reporting_keys[0];
    assert_eq!(made.sha256, domain::access::key_digest(key.as_bytes()));
    assert_eq!(made.sources, Some(vec!["net".to_owned()]));

    let db = TestDb::create().await;
    support::add_clicks(&db, "2024-01-01 10:00:00", 7, "net", 3).await;
    support::add_clicks(&db, "2024-01-01 10:00:00", 7, "other", 5).await;
    let file = KeysFile::new(entry);
    let api = Api::start(&db, &[&file.flag()]).await;
    let body = ok_as(&api, &key, SUMMARY).await;
    assert_eq!(body["summary"]["total_clicks"], 3, "{body}");
    assert_eq!(
        api.get_raw_as(&format!("{key}x"), SUMMARY).await.status(),
        401
    );
    assert_eq!(
        json_as(&api, &key, STATUS).await,
        (403, forbidden("export:read"))
    );
    api.stop();
    file.remove();
    db.drop().await;
}

/// Polls every 100 ms, for at most 5 s, until `done` holds.
async fn within_five_seconds<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn status_of(api: &Api, key: &str) -> u16 {
    api.get_raw_as(key, SUMMARY).await.status().as_u16()
}

#[tokio::test]
async fn the_keys_file_is_followed_without_a_restart() {
    let db = TestDb::create().await;
    let file = KeysFile::new(&format!(
        "{}{}",
        entry("alpha", "alpha-key", &["reports:read"], ""),
        entry("beta", "beta-key", &["reports:read"], "")
    ));
    let api = Api::start(&db, &[&file.flag()]).await;
    let metrics_url = format!("{}/metrics", api.base);
    let reloads =
        |text: &str, result: &str| metric(text, "file_reloads_total", &[("result", result)]);
    let before = scrape(&metrics_url).await;
    assert!(
        before.contains("file_reloads_total{result=\"error\"}"),
        "registered at start"
    );
    assert_eq!(status_of(&api, "alpha-key").await, 200);
    assert_eq!(status_of(&api, "gamma-key").await, 401);
    let cookie = api.open_session("alpha-key").await;
    let by_cookie = |path: &'static str| {
        api.client
            .get(format!("{}{path}", api.base))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(by_cookie(SUMMARY).await.expect("summary").status(), 200);

    // alpha goes, gamma comes: in force within seconds, no restart.
    file.write(&format!(
        "{}{}",
        entry("beta", "beta-key", &["reports:read"], ""),
        entry("gamma", "gamma-key", &["reports:read"], "")
    ));
    within_five_seconds("the new keys", || async {
        status_of(&api, "alpha-key").await == 401 && status_of(&api, "gamma-key").await == 200
    })
    .await;
    assert_eq!(status_of(&api, "beta-key").await, 200);
    assert_eq!(status_of(&api, KEY).await, 200, "REPORTING_API_KEYS stays");
    // The session of the removed key ends with it.
    assert_eq!(by_cookie(SUMMARY).await.expect("summary").status(), 401);
    assert_eq!(
        by_cookie("/dashboard/session")
            .await
            .expect("session")
            .status(),
        401
    );
    let reloaded = scrape(&metrics_url).await;
    assert!(reloads(&reloaded, "ok") > reloads(&before, "ok"));

    // A broken version is refused, counted, and the last good keys stay.
    file.write("[[reporting_key]]\nname = \"delta\"\nkey = \"delta-key\"\nscopes = [\n");
    within_five_seconds("the refused version counted", || async {
        reloads(&scrape(&metrics_url).await, "error") > reloads(&reloaded, "error")
    })
    .await;
    for (key, status) in [
        ("beta-key", 200),
        ("gamma-key", 200),
        ("alpha-key", 401),
        ("delta-key", 401),
    ] {
        assert_eq!(status_of(&api, key).await, status, "{key}");
    }
    api.stop();
    file.remove();
    db.drop().await;
}

/// Settings of an API that never gets as far as its database.
fn settings(extra: &[String]) -> Settings {
    let mut args = vec![
        "reporting-api".to_owned(),
        "--database-url=mysql://nobody@127.0.0.1:1/none".to_owned(),
        "--redis-url=redis://127.0.0.1:1".to_owned(),
        "--reporting-bind=127.0.0.1:0".to_owned(),
    ];
    args.extend(extra.iter().cloned());
    Settings::try_parse_from(args).expect("settings")
}

/// The one line `Application::build` stops with.
async fn refusal(settings: Settings) -> String {
    let error = Application::build(settings, CancellationToken::new())
        .await
        .err()
        .expect("the start is refused");
    assert!(error.is::<ConfigurationError>(), "{error:#}");
    let line = format!("{error:#}");
    assert!(!line.contains('\n'), "{line}");
    line
}

#[tokio::test]
async fn a_broken_keys_file_stops_the_start_with_one_line_without_keys() {
    let secret = "super-secret-token";
    for (text, reason) in [
        (
            format!(
                "[[reporting_key]]\nname = \"a\"\nkey = \"{secret}\"\nscopes = [\"reports:read\"\n"
            ),
            "not valid TOML at line",
        ),
        (
            entry("a", secret, &["reports:write"], ""),
            "reporting_key 1 (a): scopes: `reports:write` is not one of",
        ),
        (
            format!(
                "{}{}",
                entry("a", secret, &["reports:read"], ""),
                entry("b", secret, &["reports:read"], "")
            ),
            "the same key is listed twice",
        ),
        (
            "[[sender]]\nname = \"s\"\nsources = [\"*\"]\nkeys = [\"k\"]\n".to_owned(),
            "lists no reporting_key and REPORTING_API_KEYS is unset",
        ),
    ] {
        let file = KeysFile::new(&text);
        let line = refusal(settings(&[file.flag()])).await;
        let named = format!("CLICKS_KEYS_FILE={}: ", file.path.display());
        assert!(line.starts_with(&named), "{line}");
        assert!(line.contains(reason), "{line}");
        assert!(!line.contains(secret), "{line}");
        file.remove();
    }

    let missing = settings(&["--clicks-keys-file=/nonexistent/keys.toml".to_owned()]);
    let line = refusal(missing).await;
    assert!(
        line.starts_with("CLICKS_KEYS_FILE=/nonexistent/keys.toml: cannot read it"),
        "{line}"
    );

    let line = refusal(settings(&[])).await;
    assert!(
        line.contains("REPORTING_API_KEYS or CLICKS_KEYS_FILE is required"),
        "{line}"
    );
}
