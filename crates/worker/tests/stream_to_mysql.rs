//! The worker against real Redis and MariaDB: a fresh database and stream per test.

use std::time::Duration;

use clickstream::StreamNames;
use testkit::{TestDb, TestStream, click, xadd_clicks};
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
        self.db.scalar("SELECT COUNT(*) FROM clicks").await
    }

    async fn distinct_clicks(&self) -> u64 {
        self.db
            .scalar("SELECT COUNT(DISTINCT click_id) FROM clicks")
            .await
    }

    async fn aggregated(&self) -> u64 {
        self.db
            .scalar("SELECT CAST(COALESCE(SUM(clicks_count), 0) AS SIGNED) FROM click_daily_stats")
            .await
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
        let unversioned = self
            .db
            .scalar(
                "SELECT COUNT(DISTINCT c.click_date) FROM clicks c \
                 LEFT JOIN report_date_versions v ON v.click_date = c.click_date \
                 WHERE v.version IS NULL OR v.version = 0",
            )
            .await;
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

#[tokio::test]
async fn a_batch_is_stored_with_its_aggregates() {
    let env = Env::new().await;
    let clicks: Vec<_> = (0..250).map(|n| click("a", n)).collect();
    env.add(&clicks).await;
    let mut worker = env.worker("w1").await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.len(), 3, "250 entries in batches of 100");
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<u64>(), 250);
    assert_eq!(env.clicks().await, 250);
    env.assert_aggregates_match_clicks().await;
    // One aggregate row per (date, offer, source) present.
    let groups = env
        .db
        .scalar("SELECT COUNT(*) FROM click_daily_stats")
        .await;
    let expected = env
        .db
        .scalar("SELECT COUNT(*) FROM (SELECT DISTINCT click_date, offer_id, source FROM clicks) g")
        .await;
    assert_eq!(groups, expected);
    assert_eq!(env.pending().await, 0, "everything acknowledged");
    // A stored click keeps its fields.
    let stored = env
        .db
        .scalar("SELECT COUNT(*) FROM clicks WHERE click_id = 'a-8' AND offer_id = 101 AND source = 'network_2' AND clicked_at = '2025-06-10 12:00:00.000000' AND click_date = '2025-06-10' AND signature = 'sig-8'")
        .await;
    assert_eq!(stored, 1);
    env.drop().await;
}

/// The worker writes values into its statements as literals: text of every
/// kind must come back byte for byte, and be counted under its own key.
#[tokio::test]
async fn any_text_the_rules_allow_is_stored_byte_for_byte() {
    use chrono::TimeZone;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let env = Env::new().await;
    let awkward = [
        "it's",
        "back\\slash\\",
        "\\'; DROP TABLE clicks; -- ",
        "quote\"d `tick`",
        "ünïcödé 日本語 🎯",
        "%_ wildcards ?",
        "0x41",
        "X'41'",
    ];
    let long = "🎯".repeat(255);
    let mut clicks: Vec<domain::Click> = awkward
        .iter()
        .enumerate()
        .map(|(n, text)| domain::Click {
            click_id: format!("{text}#{n}"),
            offer_id: domain::OfferId::new(u64::MAX >> 1).expect("positive"),
            source: (*text).to_owned(),
            timestamp: chrono::Utc
                .with_ymd_and_hms(2025, 6, 10, 23, 59, 59)
                .single()
                .expect("valid")
                + chrono::Duration::microseconds(999_999),
            // Signatures may hold control characters.
            signature: format!("{text}\0\n\r\t\x1a"),
        })
        .collect();
    clicks.push(domain::Click {
        click_id: long.clone(),
        source: long.clone(),
        signature: "s".repeat(255),
        ..clicks[0].clone()
    });
    env.add(&clicks).await;
    let mut worker = env.worker("w1").await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, clicks.len() as u64);
    env.assert_aggregates_match_clicks().await;

    let rows = env
        .db
        .conn
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT click_id, offer_id, source, signature, \
             DATE_FORMAT(clicked_at, '%Y-%m-%d %H:%i:%s.%f') FROM clicks",
        ))
        .await
        .expect("select clicks");
    let mut stored: Vec<(String, u64, String, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("click_id"),
                row.try_get_by_index(1).expect("offer_id"),
                row.try_get_by_index(2).expect("source"),
                row.try_get_by_index(3).expect("signature"),
                row.try_get_by_index(4).expect("clicked_at"),
            )
        })
        .collect();
    stored.sort();
    let mut expected: Vec<(String, u64, String, String, String)> = clicks
        .iter()
        .map(|c| {
            (
                c.click_id.clone(),
                c.offer_id.get(),
                c.source.clone(),
                c.signature.clone(),
                "2025-06-10 23:59:59.999999".to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(stored, expected);

    // Each source is its own aggregate row, counted once.
    env.fold().await;
    let sources = env
        .db
        .scalar("SELECT COUNT(*) FROM click_daily_stats WHERE clicks_count = 1")
        .await;
    assert_eq!(sources, clicks.len() as u64);
    // Resent, nothing is counted twice.
    env.add(&clicks).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, clicks.len() as u64);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

/// A batch whose statement text would pass 4 MB is written in several
/// `INSERT`s; clicks stored before are still told apart from new ones in
/// each of them.
#[tokio::test]
async fn a_batch_too_large_for_one_statement_is_split_and_counted_exactly() {
    let env = Env::new().await;
    let long = |n: u64| {
        let mut c = click("x", n);
        c.click_id = format!("{n:08}-{}", "i".repeat(246));
        c.signature = "s".repeat(255);
        c
    };
    // ~1.1 KB of statement text each: 5,000 of them need two statements.
    let clicks: Vec<_> = (0..5_000).map(long).collect();
    let mut options = env.options("w1");
    options.batch_size = 5_000;
    let mut worker = env.worker_with(options).await;
    // Some are stored already, in both halves of the batch.
    let earlier: Vec<_> = clicks.iter().step_by(7).cloned().collect();
    env.add(&earlier).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, earlier.len() as u64);

    env.add(&clicks).await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.len(), 1, "one batch of 5,000");
    assert_eq!(reports[0].inserted, (clicks.len() - earlier.len()) as u64);
    assert_eq!(reports[0].duplicates, earlier.len() as u64);
    assert_eq!(env.clicks().await, clicks.len() as u64);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn duplicates_within_and_across_batches_count_once() {
    let env = Env::new().await;
    let first: Vec<_> = (0..50).map(|n| click("d", n)).collect();
    let mut with_repeats = first.clone();
    with_repeats.extend(first.iter().take(20).cloned());
    env.add(&with_repeats).await;
    let mut worker = env.worker("w1").await;
    drain(&mut worker).await;
    // The same clicks again, later, plus ten new ones.
    let mut again = first.clone();
    again.extend((50..60).map(|n| click("d", n)));
    env.add(&again).await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<u64>(), 10);
    assert_eq!(reports.iter().map(|r| r.duplicates).sum::<u64>(), 50);
    assert_eq!(env.clicks().await, 60);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn two_workers_at_once_count_each_click_once() {
    let env = Env::new().await;
    // Every click three times, interleaved, so both workers see copies.
    let unique: Vec<_> = (0..400).map(|n| click("t", n)).collect();
    let mut stream: Vec<_> = Vec::new();
    for round in 0..3 {
        stream.extend(unique.iter().skip(round * 7).cloned());
        stream.extend(unique.iter().take(round * 7).cloned());
    }
    env.add(&stream).await;
    let mut a = env.worker_with(Env::options(&env, "wa")).await;
    let mut b = env.worker_with(Env::options(&env, "wb")).await;
    let (ra, rb) = tokio::join!(drain(&mut a), drain(&mut b));
    assert!(
        !ra.is_empty() && !rb.is_empty(),
        "both workers took batches"
    );
    let inserted: u64 = ra.iter().chain(&rb).map(|r| r.inserted).sum();
    assert_eq!(inserted, 400);
    assert_eq!(env.clicks().await, 400);
    assert_eq!(env.distinct_clicks().await, 400);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn a_worker_killed_after_commit_but_before_ack_counts_once_after_restart() {
    let env = Env::new().await;
    let clicks: Vec<_> = (0..80).map(|n| click("k", n)).collect();
    env.add(&clicks).await;
    {
        let mut worker = env.worker("w1").await;
        let mut batch = worker.read_batch().await.expect("read").expect("a batch");
        let stored = worker
            .store(&mut batch)
            .await
            .expect("store")
            .expect("stored");
        assert_eq!(stored.inserted, 80);
        // Killed here: committed, never acknowledged.
    }
    assert_eq!(env.pending().await, 80);
    let mut restarted = env.worker("w1").await;
    let reports = drain(&mut restarted).await;
    assert_eq!(
        reports.iter().map(|r| r.entries).sum::<usize>(),
        80,
        "pending entries re-read"
    );
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<u64>(), 0);
    assert_eq!(env.clicks().await, 80);
    env.assert_aggregates_match_clicks().await;
    assert_eq!(env.pending().await, 0);
    env.drop().await;
}

#[tokio::test]
async fn a_worker_killed_before_commit_loses_nothing() {
    let env = Env::new().await;
    let clicks: Vec<_> = (0..60).map(|n| click("b", n)).collect();
    env.add(&clicks).await;
    {
        let mut worker = env.worker("w1").await;
        let batch = worker.read_batch().await.expect("read").expect("a batch");
        assert_eq!(batch.clicks.len(), 60);
        // Killed here: read, nothing committed.
    }
    assert_eq!(env.clicks().await, 0);
    let mut restarted = env.worker("w1").await;
    drain(&mut restarted).await;
    assert_eq!(env.clicks().await, 60);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn entries_of_a_dead_consumer_are_claimed_by_another() {
    let env = Env::new().await;
    env.add(&(0..30).map(|n| click("c", n)).collect::<Vec<_>>())
        .await;
    {
        let mut dead = env.worker("dead").await;
        dead.read_batch().await.expect("read").expect("a batch");
    }
    let mut options = env.options("alive");
    options.claim_idle = Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut alive = env.worker_with(options).await;
    drain(&mut alive).await;
    assert_eq!(env.clicks().await, 30);
    assert_eq!(env.pending().await, 0);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn an_undecodable_entry_goes_to_the_dead_letter_stream_and_the_rest_flows() {
    let env = Env::new().await;
    env.add(&[click("p", 1)]).await;
    env.add_raw(&[("garbage", "x")]).await;
    let mut bad = domain::StreamClick {
        click: click("p", 2),
        received_at: chrono::Utc::now(),
    }
    .encode()
    .to_vec();
    bad[1].1 = "-4".to_owned();
    let bad: Vec<(&str, &str)> = bad.iter().map(|(f, v)| (*f, v.as_str())).collect();
    env.add_raw(&bad).await;
    env.add(&[click("p", 3)]).await;
    let mut worker = env.worker("w1").await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.iter().map(|r| r.dead_lettered).sum::<usize>(), 2);
    assert_eq!(env.clicks().await, 2);
    assert_eq!(env.pending().await, 0, "dead letters are acknowledged too");
    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 2);
    let reason = &dead[0].reason;
    assert!(reason.contains("click_id"), "{reason}");
    let reason = &dead[1].reason;
    assert!(reason.contains("offer_id"), "{reason}");
    assert_eq!(
        dead[0].fields,
        [("garbage".to_owned(), "x".to_owned())],
        "original fields kept"
    );
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn an_entry_delivered_too_many_times_is_dead_lettered() {
    let env = Env::new().await;
    env.add(&[click("m", 1)]).await;
    let mut options = env.options("w1");
    options.max_deliveries = 2;
    for _ in 0..2 {
        // Read and "crash" twice.
        let mut worker = env.worker_with(options.clone()).await;
        worker.read_batch().await.expect("read").expect("a batch");
    }
    let mut worker = env.worker_with(options).await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.iter().map(|r| r.dead_lettered).sum::<usize>(), 1);
    assert_eq!(env.clicks().await, 0);
    let dead = env.dead_letters().await;
    let reason = &dead[0].reason;
    assert!(reason.contains("delivered 3 times"), "{reason}");
    env.drop().await;
}

#[tokio::test]
async fn only_acknowledged_entries_are_trimmed() {
    let env = Env::new().await;
    env.add(&(0..40).map(|n| click("x", n)).collect::<Vec<_>>())
        .await;
    let mut options = env.options("w1");
    options.batch_size = 25;
    let mut worker = env.worker_with(options.clone()).await;
    // First 25 committed and acknowledged.
    assert!(matches!(
        worker.process_once().await.expect("step"),
        Outcome::Processed(_)
    ));
    // Next 15 delivered to another consumer but not acknowledged.
    let other_options = LaneOptions {
        names: StreamNames {
            consumer: "w2".to_owned(),
            ..options.names.clone()
        },
        ..options
    };
    let mut other = env.worker_with(other_options.clone()).await;
    other.read_batch().await.expect("read").expect("a batch");
    drop(other);
    // And five more nobody has read yet.
    env.add(&(40..45).map(|n| click("x", n)).collect::<Vec<_>>())
        .await;
    let trimmed = worker.trim_acknowledged().await.expect("trim");
    assert_eq!(trimmed, 25);
    let len = clickstream::consumer::length(
        &mut env.stream.conn().await,
        std::slice::from_ref(&env.stream.key),
    )
    .await
    .expect("xlen");
    assert_eq!(len, 20, "pending and unread entries stay");
    let mut other = env.worker_with(other_options).await;
    drain(&mut other).await;
    assert_eq!(env.clicks().await, 45);
    env.drop().await;
}

#[tokio::test]
async fn the_run_loop_stops_on_shutdown() {
    let env = Env::new().await;
    env.add(&(0..10).map(|n| click("s", n)).collect::<Vec<_>>())
        .await;
    let shutdown = CancellationToken::new();
    let redis = env.stream.redis.clone();
    let worker = Lane::start(
        env.options("w1"),
        redis,
        env.db.conn.clone(),
        shutdown.clone(),
    )
    .await
    .expect("start");
    let running = tokio::spawn(worker.run());
    for _ in 0..100 {
        if env.clicks().await == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops within 5 s")
        .expect("joins")
        .expect("clean exit");
    assert_eq!(env.clicks().await, 10);
    env.drop().await;
}

#[tokio::test]
async fn killed_mysql_connections_lose_nothing() {
    let env = Env::new().await;
    env.add(&(0..20).map(|n| click("l", n)).collect::<Vec<_>>())
        .await;
    let mut worker = env.worker("w1").await;
    // Cut every connection the worker holds to its database.
    let killer = TestDb::server().await;
    let ids: Vec<i64> = {
        use sea_orm::ConnectionTrait;
        killer
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::MySql,
                format!(
                    "SELECT id FROM information_schema.processlist WHERE db = '{}'",
                    env.db.name
                ),
            ))
            .await
            .expect("processlist")
            .iter()
            .map(|row| row.try_get_by_index::<i64>(0).expect("id"))
            .collect()
    };
    assert!(!ids.is_empty(), "the worker holds connections");
    for id in ids {
        use sea_orm::ConnectionTrait;
        killer.execute_unprepared(&format!("KILL {id}")).await.ok();
    }
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, 20);
    env.assert_aggregates_match_clicks().await;
    assert_eq!(env.pending().await, 0);
    env.drop().await;
}

#[test]
fn deadlocks_timeouts_and_lost_connections_are_transient() {
    use sea_orm::{DbErr, RuntimeErr};
    assert!(storage::errors::is_transient(&DbErr::Conn(
        RuntimeErr::Internal("refused".into())
    )));
    assert!(!storage::errors::is_transient(&DbErr::Custom(
        "bad data".into()
    )));
}

#[tokio::test]
async fn a_database_error_that_is_not_the_data_holds_the_batch_until_fixed() {
    let env = Env::new().await;
    env.add(&(0..15).map(|n| click("h", n)).collect::<Vec<_>>())
        .await;
    {
        use sea_orm::ConnectionTrait;
        env.db
            .conn
            .execute_unprepared("RENAME TABLE aggregate_deltas TO aggregate_deltas_away")
            .await
            .expect("rename");
    }
    let mut worker = env.worker("w1").await;
    let step = tokio::spawn(async move {
        let outcome = worker.process_once().await;
        (worker, outcome)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !step.is_finished(),
        "the batch waits for the database to be fixed"
    );
    assert_eq!(
        env.clicks().await,
        0,
        "nothing committed without its aggregate delta"
    );
    assert_eq!(env.pending().await, 15, "nothing acknowledged");
    {
        use sea_orm::ConnectionTrait;
        env.db
            .conn
            .execute_unprepared("RENAME TABLE aggregate_deltas_away TO aggregate_deltas")
            .await
            .expect("rename back");
    }
    let (_worker, outcome) = tokio::time::timeout(Duration::from_secs(10), step)
        .await
        .expect("finishes once fixed")
        .expect("joins");
    match outcome.expect("step") {
        Outcome::Processed(report) => {
            assert_eq!(report.inserted, 15);
            assert_eq!(report.dead_lettered, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(env.dead_letters().await.is_empty());
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn every_fold_moves_the_report_version_of_its_dates() {
    let env = Env::new().await;
    let version = |date: &'static str| {
        let db = &env.db;
        async move {
            let date = date.parse().expect("date");
            storage::inspect::date_version(&db.conn, date)
                .await
                .expect("read the date's version")
                .unwrap_or(0)
        }
    };
    // click(n): n even → 2025-06-10, odd → 2025-06-11.
    env.add(&[click("v", 0), click("v", 2)]).await;
    let mut worker = env.worker("w1").await;
    drain(&mut worker).await;
    env.fold().await;
    // A date's first version is random (never 0 or 1 but by a 2^-61
    // chance): a database created again under the same name does not
    // repeat the versions a cached report was keyed by.
    let first_10 = version("2025-06-10").await;
    assert!(first_10 > 1, "{first_10}");
    assert_eq!(version("2025-06-11").await, 0);
    env.add(&[click("v", 1), click("v", 4)]).await;
    drain(&mut worker).await;
    env.fold().await;
    assert_eq!(version("2025-06-10").await, first_10 + 1);
    let first_11 = version("2025-06-11").await;
    assert!(first_11 > 1 && first_11 != first_10, "{first_11}");
    // Only duplicates: nothing new, no version moves.
    env.add(&[click("v", 0), click("v", 1)]).await;
    drain(&mut worker).await;
    env.fold().await;
    assert_eq!(version("2025-06-10").await, first_10 + 1);
    assert_eq!(version("2025-06-11").await, first_11);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn dead_letters_can_be_listed_and_replayed_and_count_once() {
    use clickstream::dead_letter::{self, Selection};
    let env = Env::new().await;
    env.add(&[click("r", 1), click("r", 2)]).await;
    let mut options = env.options("w1");
    options.max_deliveries = 1;
    {
        // Read and crash: on the next start both entries are over their delivery budget.
        let mut worker = env.worker_with(options.clone()).await;
        worker.read_batch().await.expect("read").expect("a batch");
    }
    env.add_raw(&[("garbage", "x")]).await;
    let mut worker = env.worker_with(options.clone()).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, 0);

    let mut conn = env.stream.conn().await;
    let letters = dead_letter::list(&mut conn, &options.names, 100)
        .await
        .expect("list");
    assert_eq!(letters.len(), 3);
    assert_eq!(letters[0].click_id(), Some("r-1"));
    assert!(
        letters[0].reason.contains("delivered 2 times"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[2].reason.contains("undecodable"),
        "{}",
        letters[2].reason
    );
    assert!(!letters[0].source_id.is_empty());

    // Replay one by id; an unknown id is reported, not invented.
    let outcome = dead_letter::replay(
        &mut conn,
        &options.names,
        Selection::Ids(vec![letters[0].id.clone(), "1-1".to_owned()]),
    )
    .await
    .expect("replay");
    assert_eq!(outcome.replayed, vec![letters[0].id.clone()]);
    assert_eq!(outcome.missing, vec!["1-1".to_owned()]);
    options.max_deliveries = 5;
    let mut worker = env.worker_with(options.clone()).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, 1);

    // Replay everything, then r-1 once more (as if a replay crashed half-way): still counted once.
    let outcome = dead_letter::replay(&mut conn, &options.names, Selection::All)
        .await
        .expect("replay");
    assert_eq!(outcome.replayed.len(), 2);
    env.add(&[click("r", 1)]).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, 2);
    let remaining = dead_letter::list(&mut conn, &options.names, 100)
        .await
        .expect("list");
    assert_eq!(
        remaining.len(),
        1,
        "the garbage entry is dead-lettered again"
    );
    assert!(remaining[0].reason.contains("undecodable"));
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn clicks_older_than_retention_keeps_are_dead_lettered_not_stored() {
    let env = Env::new().await;
    // testkit's clicks are dated June 2025; one of today besides.
    let mut today = click("keep", 0);
    today.timestamp = chrono::Utc::now();
    env.add(&[click("old", 0), today, click("old", 1)]).await;
    let mut options = env.options("w1");
    options.retention_days = Some(30);
    let mut worker = env.worker_with(options).await;
    drain(&mut worker).await;
    assert_eq!(env.clicks().await, 1, "only today's click is stored");
    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        assert!(
            letter
                .reason
                .contains("older than CLICKS_RETENTION_DAYS keeps"),
            "{}",
            letter.reason
        );
    }
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn a_failed_fold_leaves_its_deltas_and_concurrent_folds_count_each_once() {
    use sea_orm::ConnectionTrait;
    let env = Env::new().await;
    let mut worker = env.worker("w1").await;
    for round in 0..4 {
        let clicks: Vec<_> = (0..60).map(|n| click(&format!("f{round}"), n)).collect();
        env.add(&clicks).await;
        drain(&mut worker).await;
    }
    let pending = storage::aggregates::pending_deltas(&env.db.conn)
        .await
        .expect("pending");
    assert_eq!(pending, 4, "one delta per committed batch");
    assert_eq!(env.aggregated().await, 0, "nothing folded yet");

    // A fold that fails half way adds nothing and keeps its deltas.
    env.db
        .conn
        .execute_unprepared("RENAME TABLE click_daily_source_stats TO source_stats_away")
        .await
        .expect("rename");
    let failed = storage::aggregates::fold_pending(&env.db.conn, 10, 1_000).await;
    assert!(failed.is_err(), "{failed:?}");
    env.db
        .conn
        .execute_unprepared("RENAME TABLE source_stats_away TO click_daily_source_stats")
        .await
        .expect("rename back");
    assert_eq!(env.aggregated().await, 0, "the failed fold rolled back");
    assert_eq!(
        storage::aggregates::pending_deltas(&env.db.conn)
            .await
            .expect("pending"),
        4
    );

    // A fold takes whole deltas up to its click limit, at least one.
    let first = storage::aggregates::fold_pending(&env.db.conn, 10, 1)
        .await
        .expect("fold");
    assert_eq!((first.deltas, first.clicks, first.more), (1, 60, true));
    let second = storage::aggregates::fold_pending(&env.db.conn, 10, 119)
        .await
        .expect("fold");
    assert_eq!((second.deltas, second.clicks, second.more), (1, 60, true));
    assert_eq!(env.aggregated().await, 120);

    // Folds side by side, one delta each at most: SKIP LOCKED gives them
    // disjoint deltas, and together they fold the rest once.
    let folds = (0..4).map(|_| storage::aggregates::fold_pending(&env.db.conn, 1, 1_000));
    let folded: Vec<_> = futures_util::future::join_all(folds)
        .await
        .into_iter()
        .map(|folded| folded.expect("fold"))
        .collect();
    let rest = storage::aggregates::fold_all(&env.db.conn)
        .await
        .expect("fold");
    let deltas: u64 = folded.iter().map(|f| f.deltas).sum::<u64>() + rest.deltas;
    let clicks: u64 = folded.iter().map(|f| f.clicks).sum::<u64>() + rest.clicks;
    assert_eq!((deltas, clicks), (2, 120));
    assert_eq!(env.aggregated().await, 240);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

/// Batches committed side by side, each overlapping the others by half:
/// every batch after the first meets clicks another has stored, so its
/// count comes from the rows it inserted, read back by id range while the
/// other inserts interleave (or by `click_id`, the fallback, when asked to).
/// Each click is still counted exactly once, whichever way is used.
#[tokio::test]
async fn overlapping_batches_committed_side_by_side_count_each_click_once() {
    use storage::clicks::ReadBack;

    for fallback in [false, true] {
        let env = Env::new().await;
        let batches: Vec<Vec<domain::StreamClick>> = (0..6u64)
            .map(|b| {
                (b * 150..b * 150 + 300)
                    .map(|n| domain::StreamClick {
                        click: click("o", n),
                        received_at: chrono::Utc::now(),
                    })
                    .collect()
            })
            .collect();
        let mut read_backs = Vec::new();
        for _round in 0..2 {
            let stores = batches.iter().map(|batch| {
                let refs: Vec<&domain::StreamClick> = batch.iter().collect();
                let db = env.db.conn.clone();
                async move {
                    if fallback {
                        storage::clicks::store_batch_reading_back_by_click_id(&db, &refs).await
                    } else {
                        storage::clicks::store_batch(&db, &refs).await
                    }
                }
            });
            let stored: Vec<_> = futures_util::future::join_all(stores)
                .await
                .into_iter()
                .map(|stored| stored.expect("stored"))
                .collect();
            let inserted: u64 = stored.iter().map(|s| s.inserted).sum();
            // 0..1050: the first round inserts each once, the second none.
            assert!(inserted == 1050 || inserted == 0, "{inserted}");
            read_backs.extend(stored.iter().map(|s| s.read_back));
        }
        // Batches that inserted some of their clicks and met others read
        // them back, each the way the test asked for.
        let expected = if fallback {
            ReadBack::ClickIds
        } else {
            ReadBack::IdRanges
        };
        assert!(
            read_backs.contains(&expected),
            "no batch read back by {expected:?}: {read_backs:?}"
        );
        if fallback {
            assert!(!read_backs.contains(&ReadBack::IdRanges), "{read_backs:?}");
        }
        assert_eq!(env.clicks().await, 1050);
        env.assert_aggregates_match_clicks().await;
        assert_eq!(env.aggregated().await, 1050);
        env.drop().await;
    }
}
