//! `reporting-api retention`: raw clicks of old, exported dates go in
//! bounded batches; unexported dates and dates with clicks after their
//! export stay; reports are the same before and after; a stopped run
//! resumes.

use chrono::{DateTime, Days, NaiveDate, Utc};
use reporting_api::export::Exporter;
use reporting_api::retention::{self, RetentionArgs};
use serde_json::Value;
use testkit::TestDb;

use crate::export_support::{finance, ok, settings};
use crate::reports_support::Api;

const DAYS: u32 = 30;

fn day(today: NaiveDate, back: u64) -> NaiveDate {
    today.checked_sub_days(Days::new(back)).expect("date")
}

fn click(id: &str, n: u64, date: NaiveDate) -> domain::StreamClick {
    let at: DateTime<Utc> = date
        .and_hms_opt(u32::try_from(n % 24).expect("hour"), 15, 0)
        .expect("time")
        .and_utc();
    domain::StreamClick {
        click: domain::Click {
            click_id: id.to_owned(),
            offer_id: domain::OfferId::new(100 + n % 3).expect("positive"),
            source: format!("net_{}", n % 2),
            timestamp: at,
            signature: "sig".to_owned(),
        },
        received_at: Utc::now(),
    }
}

/// Five clicks of `date`, committed through the worker's own transaction.
async fn five_clicks(db: &TestDb, date: NaiveDate) {
    let clicks: Vec<_> = (0..5)
        .map(|n| click(&format!("{date}-{n}"), n, date))
        .collect();
    let refs: Vec<&domain::StreamClick> = clicks.iter().collect();
    worker::store::store_batch(&db.conn, &refs)
        .await
        .expect("store");
}

async fn raw_clicks(db: &TestDb, date: NaiveDate) -> u64 {
    storage::retention::clicks_of(&db.conn, date)
        .await
        .expect("count")
}

fn args(dry_run: bool, max_clicks: Option<u64>) -> RetentionArgs {
    RetentionArgs {
        dry_run,
        batch_size: 2,
        max_clicks,
    }
}

/// Every report form over the test's dates, as the API answers them.
async fn reports(api: &Api, first: NaiveDate, last: NaiveDate) -> Vec<Value> {
    let mut bodies = Vec::new();
    for query in [
        "/api/reports/summary?",
        "/api/reports/summary?interval=hour&",
        "/api/reports/aggregated?limit=1000&",
        "/api/reports/aggregated?group_by=date&",
        "/api/reports/aggregated?group_by=source&timezone=America/New_York&",
    ] {
        bodies.push(
            api.ok(&format!("{query}start_date={first}&end_date={last}"))
                .await,
        );
    }
    bodies
}

#[tokio::test]
async fn old_exported_dates_go_in_batches_and_reports_stay_the_same() {
    let db = TestDb::create().await;
    let today = Utc::now().date_naive();
    let first_retained = retention::first_retained(today, DAYS);
    let exported = day(today, 40);
    let unexported = day(today, 39);
    let late = day(today, 38);
    let kept = first_retained;
    for date in [exported, unexported, late, kept] {
        five_clicks(&db, date).await;
    }
    let server = finance(ok()).await;
    let exporter = Exporter::new(db.conn.clone(), &settings(&db, &server.uri(), &[]).finance)
        .expect("exporter");
    for date in [exported, late, kept] {
        exporter.export_date(date, None).await.expect("export");
    }
    // A click of `late` after its export: not yet with Finance.
    let resent = click("late-arrival", 7, late);
    worker::store::store_batch(&db.conn, &[&resent])
        .await
        .expect("store");

    let api = Api::start(&db, &["--report-cache-ttl-secs=0"]).await;
    let window = (day(today, 45), day(today, 25));
    let before = reports(&api, window.0, window.1).await;
    assert_eq!(before[0]["summary"]["total_clicks"], 21);

    // Dry run: says what would go, deletes nothing.
    let dry = retention::apply(&db.conn, DAYS, today, &args(true, None))
        .await
        .expect("dry run");
    assert_eq!(dry.deleted_dates, [exported]);
    assert_eq!(dry.kept_dates, [unexported, late]);
    assert_eq!(dry.deleted_clicks, 5);
    assert!(
        dry.lines[0].contains("would delete 5 clicks"),
        "{:?}",
        dry.lines
    );
    assert!(
        dry.lines[1].contains("has not completed"),
        "{:?}",
        dry.lines
    );
    assert!(
        dry.lines[2].contains("1 arrived after its last export"),
        "{:?}",
        dry.lines
    );
    assert_eq!(raw_clicks(&db, exported).await, 5);

    // Stopped after 3 clicks (as a killed run would stop between batches)…
    let stopped = retention::apply(&db.conn, DAYS, today, &args(false, Some(3)))
        .await
        .expect("bounded run");
    assert!(stopped.stopped_early);
    assert_eq!(stopped.deleted_clicks, 3);
    assert_eq!(raw_clicks(&db, exported).await, 2);
    // …the next run finishes the date.
    let resumed = retention::apply(&db.conn, DAYS, today, &args(false, None))
        .await
        .expect("run");
    assert_eq!(resumed.deleted_dates, [exported]);
    assert_eq!(resumed.deleted_clicks, 2);
    assert_eq!(raw_clicks(&db, exported).await, 0);
    for date in [unexported, late, kept] {
        assert!(raw_clicks(&db, date).await >= 5, "{date} kept");
    }
    assert_eq!(
        reports(&api, window.0, window.1).await,
        before,
        "reports unchanged"
    );

    // Exported again, the late date goes too; the unexported one never.
    exporter
        .export_date(late, None)
        .await
        .expect("export again");
    let again = retention::apply(&db.conn, DAYS, today, &args(false, None))
        .await
        .expect("run");
    assert_eq!(again.deleted_dates, [late]);
    assert_eq!(again.deleted_clicks, 6);
    assert_eq!(again.kept_dates, [unexported]);
    assert_eq!(raw_clicks(&db, unexported).await, 5);
    assert_eq!(
        raw_clicks(&db, kept).await,
        5,
        "the first retained date is not before it"
    );
    assert_eq!(
        reports(&api, window.0, window.1).await,
        before,
        "reports unchanged"
    );
    api.stop();
    db.drop().await;
}

#[tokio::test]
async fn without_a_retention_the_command_deletes_nothing() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_reporting-api"))
        .arg("retention")
        .env_remove("CLICKS_RETENTION_DAYS")
        .env("DATABASE_URL", "mysql://root@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("retention is off"), "{text}");
}
