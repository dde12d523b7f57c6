//! `reporting-api retention`: raw clicks of old, exported dates go in
//! bounded batches; unexported dates and dates with clicks after their
//! export stay; reports are the same before and after; a stopped run,
//! and a killed one, resumes.

use chrono::{DateTime, Days, NaiveDate, Utc};
use reporting_api::export::Exporter;
use reporting_api::retention::metrics::{
    LAST_RUN_DATES, LAST_RUN_DELETED_CLICKS, LAST_RUN_DRY_RUN, LAST_RUN_STOPPED_EARLY,
    LAST_RUN_SUCCESS, LAST_RUN_TIMESTAMP,
};
use reporting_api::retention::{self, RetentionArgs};
use serde_json::Value;
use testkit::TestDb;
use testkit::metrics::metric;

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
    storage::clicks::store_batch(&db.conn, &refs)
        .await
        .expect("store");
    storage::aggregates::fold_all(&db.conn).await.expect("fold");
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
        metrics_file: None,
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
    storage::clicks::store_batch(&db.conn, &[&resent])
        .await
        .expect("store");
    storage::aggregates::fold_all(&db.conn).await.expect("fold");

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

/// Clicks of the date the killed run works on: enough single-digit batches
/// that the run is still deleting when the test sees its first ones go.
const KILLED_DATE_CLICKS: u64 = 30_000;
/// `--batch-size` of the killed run.
const KILLED_BATCH: u64 = 5;

#[tokio::test]
async fn a_run_killed_mid_date_deletes_whole_batches_and_the_next_run_finishes() {
    let db = TestDb::create().await;
    let today = Utc::now().date_naive();
    let old = day(today, 40);
    // Stored with nothing counted, then counted once through the folds'
    // own statements, so the aggregates equal the clicks.
    let clicks: Vec<domain::Click> = (0..KILLED_DATE_CLICKS)
        .map(|n| click(&format!("{old}-{n}"), n, old).click)
        .collect();
    storage::inspect::load_uncounted_clicks(&db.conn, &clicks, 5_000)
        .await
        .expect("store the clicks");
    let mut counts = std::collections::BTreeMap::new();
    for click in &clicks {
        let hour = click.timestamp.naive_utc();
        *counts
            .entry((hour, click.offer_id.get(), click.source.clone()))
            .or_insert(0) += 1;
    }
    storage::aggregates::add_counts(
        &db.conn,
        counts
            .into_iter()
            .map(|((hour, offer, source), n)| (hour, offer, source, n)),
    )
    .await
    .expect("count the clicks");
    let server = finance(ok()).await;
    let exporter = Exporter::new(db.conn.clone(), &settings(&db, &server.uri(), &[]).finance)
        .expect("exporter");
    exporter.export_date(old, None).await.expect("export");

    let api = Api::start(&db, &["--report-cache-ttl-secs=0"]).await;
    let window = (day(today, 45), day(today, 35));
    let before = reports(&api, window.0, window.1).await;
    assert_eq!(
        before[0]["summary"]["total_clicks"], KILLED_DATE_CLICKS,
        "every click counted"
    );

    // kill -9 as soon as the first batches are gone.
    let mut run = retention_process(&db.url, &[&format!("--batch-size={KILLED_BATCH}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the retention run");
    let started = std::time::Instant::now();
    while raw_clicks(&db, old).await == KILLED_DATE_CLICKS {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the run deleted nothing in 30 s"
        );
        assert!(
            run.try_wait().expect("poll the run").is_none(),
            "the run ended before deleting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    run.kill().expect("kill -9");
    run.wait().expect("reap");
    let left = raw_clicks(&db, old).await;
    assert!(
        left > 0 && left < KILLED_DATE_CLICKS,
        "killed mid-date: {left} of {KILLED_DATE_CLICKS} left"
    );
    assert_eq!(
        left % KILLED_BATCH,
        0,
        "only whole batches were deleted: {left} left"
    );
    assert_eq!(
        reports(&api, window.0, window.1).await,
        before,
        "reports unchanged after the kill"
    );

    // The next run goes on from there and finishes the date.
    let (ok, stderr) = retention_command(&db.url, &[]);
    assert!(ok, "{stderr}");
    assert_eq!(raw_clicks(&db, old).await, 0);
    assert_eq!(
        reports(&api, window.0, window.1).await,
        before,
        "reports unchanged after the date is gone"
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

/// `reporting-api retention` with `DATABASE_URL` = `database_url` and a
/// 30-day retention; its exit status and stderr.
/// `reporting-api retention <args>` against `database_url`, keeping `DAYS`.
fn retention_process(database_url: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reporting-api"));
    command
        .arg("retention")
        .args(args)
        .env("CLICKS_RETENTION_DAYS", DAYS.to_string())
        .env("DATABASE_URL", database_url);
    command
}

fn retention_command(database_url: &str, args: &[&str]) -> (bool, String) {
    let output = retention_process(database_url, args).output().expect("run");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_run_leaves_its_figures_for_prometheus_in_the_metrics_file() {
    let db = TestDb::create().await;
    let today = Utc::now().date_naive();
    let (exported, unexported, late) = (day(today, 40), day(today, 39), day(today, 38));
    for date in [exported, unexported, late] {
        five_clicks(&db, date).await;
    }
    let server = finance(ok()).await;
    let exporter = Exporter::new(db.conn.clone(), &settings(&db, &server.uri(), &[]).finance)
        .expect("exporter");
    for date in [exported, late] {
        exporter.export_date(date, None).await.expect("export");
    }
    let resent = click("late-arrival", 7, late);
    storage::clicks::store_batch(&db.conn, &[&resent])
        .await
        .expect("store");
    storage::aggregates::fold_all(&db.conn).await.expect("fold");
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("clicks_retention.prom");
    let flag = format!("--metrics-file={}", file.display());
    let read = || std::fs::read_to_string(&file).expect("the metrics file");
    let dates = |text: &str, outcome: &str| metric(text, LAST_RUN_DATES, &[("outcome", outcome)]);

    let (ok, stderr) = retention_command(&db.url, &["--dry-run", &flag]);
    assert!(ok, "{stderr}");
    let text = read();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - metric(&text, LAST_RUN_TIMESTAMP, &[])).abs() < 60.0,
        "{text}"
    );
    assert_eq!(metric(&text, LAST_RUN_SUCCESS, &[]), 1.0, "{text}");
    assert_eq!(metric(&text, LAST_RUN_DRY_RUN, &[]), 1.0, "{text}");
    assert_eq!(metric(&text, LAST_RUN_DELETED_CLICKS, &[]), 5.0, "{text}");
    assert_eq!(dates(&text, "deleted"), 1.0, "{text}");
    assert_eq!(dates(&text, "kept_not_exported"), 1.0, "{text}");
    assert_eq!(dates(&text, "kept_clicks_after_export"), 1.0, "{text}");
    assert!(
        text.contains("# TYPE retention_last_run_dates gauge"),
        "{text}"
    );
    assert_eq!(
        raw_clicks(&db, exported).await,
        5,
        "a dry run deletes nothing"
    );

    let (ok, stderr) = retention_command(&db.url, &["--max-clicks=3", &flag]);
    assert!(ok, "{stderr}");
    let text = read();
    assert_eq!(metric(&text, LAST_RUN_DRY_RUN, &[]), 0.0, "{text}");
    assert_eq!(metric(&text, LAST_RUN_DELETED_CLICKS, &[]), 3.0, "{text}");
    assert_eq!(metric(&text, LAST_RUN_STOPPED_EARLY, &[]), 1.0, "{text}");
    assert_eq!(dates(&text, "deleted"), 0.0, "{text}");
    assert_eq!(raw_clicks(&db, exported).await, 2);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(files, ["clicks_retention.prom"], "no temporary file left");

    // A failed run says so, without figures it does not have.
    let (ok, _) = retention_command("mysql://root@127.0.0.1:1/none", &[&flag]);
    assert!(!ok);
    let text = read();
    assert_eq!(metric(&text, LAST_RUN_SUCCESS, &[]), 0.0, "{text}");
    assert!(!text.contains(LAST_RUN_DELETED_CLICKS), "{text}");

    // A file that cannot be written fails the run, naming the flag.
    let nowhere = format!(
        "--metrics-file={}",
        dir.path().join("missing/x.prom").display()
    );
    let (ok, stderr) = retention_command(&db.url, &["--dry-run", &nowhere]);
    assert!(!ok);
    assert!(stderr.contains("--metrics-file"), "{stderr}");
    db.drop().await;
}
