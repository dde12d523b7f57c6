//! Exactly-once storage: every click once, byte for byte, however batches split or overlap.

use testkit::click;

use super::{Env, drain};

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
    let groups = storage::inspect::daily_rows(&env.db.conn)
        .await
        .expect("count the daily rows");
    let expected = storage::inspect::click_groups(&env.db.conn)
        .await
        .expect("count the groups of clicks");
    assert_eq!(groups, expected);
    assert_eq!(env.pending().await, 0, "everything acknowledged");
    // A stored click keeps its fields.
    let stored = storage::inspect::stored_click(&env.db.conn, "a-8")
        .await
        .expect("read a click")
        .expect("a-8 is stored");
    let date = chrono::NaiveDate::from_ymd_opt(2025, 6, 10).expect("date");
    let noon = date.and_hms_micro_opt(12, 0, 0, 0).expect("time");
    assert_eq!(
        (
            stored.offer_id,
            stored.source.as_str(),
            stored.clicked_at,
            stored.click_date,
            stored.signature.as_str(),
        ),
        (101, "network_2", noon, date, "sig-8")
    );
    env.drop().await;
}

/// The worker writes values into its statements as literals: text of every
/// kind must come back byte for byte, and be counted under its own key.
#[tokio::test]
async fn any_text_the_rules_allow_is_stored_byte_for_byte() {
    use chrono::TimeZone;

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

    // Every click stored (the count above), each read back by its id.
    let mut stored = Vec::with_capacity(clicks.len());
    for c in &clicks {
        let row = storage::inspect::stored_click(&env.db.conn, &c.click_id)
            .await
            .expect("read a click")
            .unwrap_or_else(|| panic!("{:?} is stored", c.click_id));
        let clicked_at = row.clicked_at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        stored.push((
            row.click_id,
            row.offer_id,
            row.source,
            row.signature,
            clicked_at,
        ));
    }
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
    let sources = storage::inspect::daily_rows_counting(&env.db.conn, 1)
        .await
        .expect("count the daily rows of one click");
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
