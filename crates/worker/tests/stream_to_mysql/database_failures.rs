//! Database failures: lost connections and broken tables hold the batch; nothing is lost.

use std::time::Duration;

use testkit::{TestDb, click};
use worker::Outcome;

use super::{Env, drain};

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
