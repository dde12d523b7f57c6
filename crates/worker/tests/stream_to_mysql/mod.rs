//! The worker against real Redis and MariaDB: a fresh database and stream per test.
//!
//! This module holds the shared [`Env`] and [`drain`]; the tests are grouped
//! by concern in the submodules.

mod database_failures;
mod dead_letters;
mod delivery;
mod exactly_once;
mod folds;

use std::time::Duration;

use clickstream::StreamNames;
use testkit::{TestDb, TestStream, xadd_clicks};
use tokio_util::sync::CancellationToken;
use worker::{Lane, LaneOptions, Outcome};

pub(crate) struct Env {
    pub(crate) db: TestDb,
    pub(crate) stream: TestStream,
}

impl Env {
    pub(crate) async fn new() -> Self {
        Self {
            db: TestDb::create().await,
            stream: TestStream::create(),
        }
    }

    pub(crate) fn options(&self, consumer: &str) -> LaneOptions {
        LaneOptions {
            names: StreamNames {
                stream: self.stream.key.clone(),
                group: "clicks-workers".to_owned(),
                consumer: consumer.to_owned(),
            },
            batch_size: 100,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_secs(60),
            max_deliveries: 5,
            retention_days: None,
        }
    }

    pub(crate) async fn worker_with(&self, options: LaneOptions) -> Lane {
        let redis = self.stream.redis.clone();
        Lane::start(
            options,
            redis,
            self.db.conn.clone(),
            CancellationToken::new(),
        )
        .await
        .expect("worker starts")
    }

    pub(crate) async fn worker(&self, consumer: &str) -> Lane {
        self.worker_with(self.options(consumer)).await
    }

    pub(crate) async fn add(&self, clicks: &[domain::Click]) {
        let mut conn = self.stream.conn().await;
        xadd_clicks(&mut conn, &self.stream.layout(1), clicks).await;
    }

    pub(crate) async fn clicks(&self) -> u64 {
        self.db.click_count().await
    }

    async fn distinct_clicks(&self) -> u64 {
        storage::inspect::distinct_click_ids(&self.db.conn)
            .await
            .expect("count the distinct click ids")
    }

    async fn aggregated(&self) -> u64 {
        storage::inspect::daily_total(&self.db.conn)
            .await
            .expect("sum the daily aggregate")
    }

    /// Folds the stored batches' counts into the aggregates, as a worker
    /// process's aggregator does (these tests drive lanes without one).
    pub(crate) async fn fold(&self) {
        storage::aggregates::fold_all(&self.db.conn)
            .await
            .expect("fold the aggregates");
    }

    /// Once folded, every aggregate table equals the counts over the clicks
    /// table (storage's audit), and every date with clicks has a version.
    pub(crate) async fn assert_aggregates_match_clicks(&self) {
        self.fold().await;
        assert_eq!(
            storage::aggregates::pending_deltas(&self.db.conn)
                .await
                .expect("pending"),
            0
        );
        let clicks = self.clicks().await;
        for check in storage::aggregates::audit(&self.db.conn)
            .await
            .expect("audit the aggregates")
        {
            assert!(check.is_exact(), "{check:?} differs from the clicks table");
            assert_eq!(check.total, clicks, "{} total", check.table);
        }
        let unversioned = storage::inspect::click_dates_without_version(&self.db.conn)
            .await
            .expect("count the dates without a version");
        assert_eq!(
            unversioned, 0,
            "every date with clicks has a report version"
        );
    }

    pub(crate) async fn pending(&self) -> u64 {
        let names = self.options("any").names;
        clickstream::inspect::pending_count(&mut self.stream.conn().await, &names)
            .await
            .expect("xpending")
    }

    pub(crate) async fn dead_letters(&self) -> Vec<clickstream::dead_letter::DeadLetter> {
        let names = self.options("any").names;
        clickstream::dead_letter::list(&mut self.stream.conn().await, &names, usize::MAX)
            .await
            .expect("dead letters")
    }

    /// Appends an entry past ingest's checks.
    /// One packed entry of `clicks`, as ingest writes it.
    pub(crate) async fn add_packed(&self, clicks: &[domain::stream_entry::ClickValues]) {
        let fields = domain::stream_entry::pack(clicks.iter(), Default::default());
        clickstream::inspect::add_raw(&mut self.stream.conn().await, &self.stream.key, &fields)
            .await
            .expect("xadd");
    }

    pub(crate) async fn add_raw(&self, fields: &[(&str, &str)]) {
        clickstream::inspect::add_raw(&mut self.stream.conn().await, &self.stream.key, fields)
            .await
            .expect("xadd");
    }

    pub(crate) async fn drop(self) {
        self.db.drop().await;
        self.stream.drop().await;
    }
}

pub(crate) async fn drain(worker: &mut Lane) -> Vec<worker::BatchReport> {
    let mut reports = Vec::new();
    loop {
        match worker.process_once().await.expect("step") {
            Outcome::Processed(report) => reports.push(report),
            Outcome::Idle | Outcome::Stopped => return reports,
        }
    }
}
