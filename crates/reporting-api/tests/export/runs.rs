//! Export runs: one at a time per date (the lease), and the CLI's exit status.

use crate::export_support as support;

use std::sync::Arc;
use std::time::Duration;

use reporting_api::export::record::{self, Lease};
use reporting_api::export::{ExitStatus, ExportArgs, export_dates};
use serde_json::json;
use support::*;
use testkit::TestDb;
use wiremock::ResponseTemplate;

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
    storage::inspect::expire_export_leases(&db.conn)
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
