//! Aggregate folds: each batch's delta folds exactly once and moves its dates' versions.

use testkit::click;

use super::{Env, drain};

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
