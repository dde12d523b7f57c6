//! Managed MySQL wants TLS: a private `mariadbd` with a certificate from a
//! CA of the test's own and a user that is `REQUIRE SSL`. Without TLS the
//! connection fails with one line naming the setting; with `ssl-mode`
//! `REQUIRED`, `VERIFY_CA` or `VERIFY_IDENTITY` and `ssl-ca`, migrations,
//! the worker's writes and the reports all work (they share
//! `storage::connect_url`).

use clap::Parser;
use migration::{Migrator, MigratorTrait};
use reporting_api::{Application, Settings};
use sea_orm::ConnectionTrait;
use storage::DatabaseUrl;
use testkit::MariaDbInstance;
use tokio_util::sync::CancellationToken;

use crate::reports_support::KEY;

#[tokio::test]
async fn a_require_ssl_user_connects_only_over_verified_tls() {
    let server = MariaDbInstance::start_tls().await;
    let ca = server.tls_files().expect("tls").ca_cert.clone();
    let root = storage::connect(&format!("{}/mysql", server.url()), 1)
        .await
        .expect("root");
    for sql in [
        "CREATE DATABASE clicks_tls CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        "CREATE USER 'clicks_tls'@'%' IDENTIFIED BY 'tls-pass' REQUIRE SSL",
        "GRANT ALL ON clicks_tls.* TO 'clicks_tls'@'%'",
    ] {
        root.execute_unprepared(sql).await.expect(sql);
    }
    let base = format!(
        "mysql://clicks_tls:tls-pass@127.0.0.1:{}/clicks_tls",
        server.port()
    );
    let url = |query: &str| DatabaseUrl::parse(&format!("{base}?{query}")).expect("url");

    // Without TLS: refused by the server, in one line that names the setting.
    let error = storage::connect_url(&url("ssl-mode=DISABLED"), "DATABASE_URL", 1)
        .await
        .expect_err("refused without TLS")
        .to_string();
    assert!(
        error.starts_with("cannot connect to DATABASE_URL ("),
        "{error}"
    );
    assert!(
        error.contains("Access denied") && !error.contains("tls-pass"),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");

    // A CA that did not sign the server's certificate: refused too.
    let other = tempfile::tempdir().expect("dir");
    let stranger = testkit::TlsFiles::generate(other.path());
    let error = storage::connect_url(
        &url(&format!(
            "ssl-mode=VERIFY_CA&ssl-ca={}",
            stranger.ca_cert.display()
        )),
        "DATABASE_URL",
        1,
    )
    .await
    .expect_err("an unknown CA is refused")
    .to_string();
    assert!(
        error.starts_with("cannot connect to DATABASE_URL"),
        "{error}"
    );

    let verified = url(&format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", ca.display()));
    for query in [
        "ssl-mode=REQUIRED".to_owned(),
        format!("ssl-mode=VERIFY_CA&ssl-ca={}", ca.display()),
    ] {
        let db = storage::connect_url(&url(&query), "DATABASE_URL", 1)
            .await
            .unwrap_or_else(|error| panic!("{query}: {error}"));
        db.execute_unprepared("SELECT 1").await.expect("a query");
    }

    // migrate, the worker and reporting-api, all over verified TLS.
    let db = storage::connect_url(&verified, "DATABASE_URL", 2)
        .await
        .expect("verified TLS");
    let cipher = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::MySql,
            "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
        ))
        .await
        .expect("status")
        .expect("a row")
        .try_get_by_index::<String>(1)
        .expect("cipher");
    assert!(!cipher.is_empty(), "the session is encrypted");
    Migrator::up(&db, None).await.expect("migrations");
    let click = domain::StreamClick {
        click: domain::Click {
            click_id: "tls-1".to_owned(),
            offer_id: domain::OfferId::new(5).expect("positive"),
            source: "net".to_owned(),
            timestamp: "2025-06-10T12:00:00Z".parse().expect("timestamp"),
            signature: "sig".to_owned(),
        },
        received_at: chrono::Utc::now(),
    };
    storage::clicks::store_batch(&db, &[&click])
        .await
        .expect("the worker's transaction");
    storage::aggregates::fold_all(&db).await.expect("fold");
    let settings = Settings::try_parse_from([
        "reporting-api".to_owned(),
        format!("--database-url={}", verified.expose()),
        "--reporting-bind=127.0.0.1:0".to_owned(),
        format!("--reporting-api-keys={KEY}"),
        "--report-cache-ttl-secs=0".to_owned(),
    ])
    .expect("settings");
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .expect("reporting-api over TLS");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let summary: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{base}/api/reports/summary?start_date=2025-06-10&end_date=2025-06-10"
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["summary"]["total_clicks"], 1, "{summary}");
    shutdown.cancel();
}
