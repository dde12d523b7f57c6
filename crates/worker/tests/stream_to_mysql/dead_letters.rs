//! Dead letters: bad, over-delivered and too-old entries set aside, listed and replayed.

use testkit::click;

use super::{Env, drain};

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
