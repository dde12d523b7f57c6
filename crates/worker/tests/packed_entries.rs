//! Packed entries (many clicks in one stream entry, as ingest writes them
//! under load): each click stored and counted once, a bad click set aside
//! alone, a read larger than the batch committed in parts.

use domain::StreamClick;
use domain::stream_entry::{self, ClickValues};
use testkit::{click, xadd_packed};

use crate::stream_to_mysql::{Env, drain};

fn values(click: domain::Click) -> ClickValues {
    StreamClick {
        click,
        received_at: chrono::Utc::now(),
    }
    .values()
}

async fn stream_entries(env: &Env) -> u64 {
    clickstream::consumer::length(
        &mut env.stream.conn().await,
        std::slice::from_ref(&env.stream.key),
    )
    .await
    .expect("xlen")
}

#[tokio::test]
async fn packed_entries_are_stored_click_by_click_in_parts_of_the_batch_size() {
    let env = Env::new().await;
    // 300 clicks, 20 of them twice: packs of up to PACK_MAX_CLICKS.
    let clicks: Vec<_> = (0..300).chain(0..20).map(|n| click("k", n)).collect();
    let mut conn = env.stream.conn().await;
    xadd_packed(&mut conn, &env.stream.layout(1), &clicks).await;
    let entries = stream_entries(&env).await;
    assert_eq!(
        entries,
        320_u64.div_ceil(stream_entry::PACK_MAX_CLICKS as u64)
    );
    // And one click alone, in the one-click form, after them.
    env.add(&[click("k", 1000)]).await;

    // A worker that commits the first read and dies before acknowledging.
    {
        let mut worker = env.worker("w1").await;
        let mut batch = worker.read_batch().await.expect("read").expect("a batch");
        assert_eq!(batch.entries.len() as u64, entries + 1);
        assert_eq!(batch.clicks.len(), 321);
        let stored = worker
            .store(&mut batch)
            .await
            .expect("store")
            .expect("stored");
        assert_eq!(stored.inserted, 301);
        assert_eq!(stored.duplicates, 20);
    }
    assert_eq!(env.clicks().await, 301);
    // In parts of the batch size (100): each part is a transaction of its
    // own, whose rows carry its token. 300, then 20 resends and one new click.
    let tokens = storage::inspect::batch_tokens(&env.db.conn)
        .await
        .expect("count the batch tokens");
    assert_eq!(tokens.tokens, 4);
    assert_eq!(tokens.largest, 100);
    env.assert_aggregates_match_clicks().await;

    // The next worker re-reads the packs: nothing counted twice.
    let mut worker = env.worker("w1").await;
    let reports = drain(&mut worker).await;
    assert_eq!(reports.iter().map(|r| r.inserted).sum::<u64>(), 0);
    assert_eq!(reports.iter().map(|r| r.duplicates).sum::<u64>(), 321);
    assert_eq!(env.clicks().await, 301);
    assert_eq!(env.pending().await, 0);
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

#[tokio::test]
async fn a_bad_click_of_a_pack_is_dead_lettered_alone_and_a_broken_pack_whole() {
    let env = Env::new().await;
    let mut bad = values(click("b", 2));
    bad[1] = "0".to_owned();
    let pack = [values(click("b", 1)), bad, values(click("b", 3))];
    env.add_packed(&pack).await;
    env.add_raw(&[("clicks", "[[\"cut short"), ("click_count", "1")])
        .await;
    // A compressed pack (COMPRESS_MIN_CLICKS or more) with one bad click,
    // and a compressed pack cut short.
    let mut compressed: Vec<ClickValues> = (0..stream_entry::COMPRESS_MIN_CLICKS as u64)
        .map(|n| values(click("z", n + 1)))
        .collect();
    compressed[5][1] = "0".to_owned();
    env.add_packed(&compressed).await;
    let whole = stream_entry::pack(compressed.iter(), Default::default());
    assert_eq!(whole[0].0, stream_entry::FIELD_CLICKS_LZ4);
    let cut = &whole[0].1[..whole[0].1.len() - 9];
    clickstream::inspect::add_raw(
        &mut env.stream.conn().await,
        &env.stream.key,
        &[
            (whole[0].0.as_bytes(), cut),
            (b"click_count".as_slice(), b"16".as_slice()),
        ],
    )
    .await
    .expect("xadd");

    let mut worker = env.worker("w1").await;
    let reports = drain(&mut worker).await;
    let compressed_good = stream_entry::COMPRESS_MIN_CLICKS as u64 - 1;
    assert_eq!(
        reports.iter().map(|r| r.inserted).sum::<u64>(),
        2 + compressed_good
    );
    assert_eq!(reports.iter().map(|r| r.dead_lettered).sum::<usize>(), 4);
    assert_eq!(env.clicks().await, 2 + compressed_good);
    assert_eq!(env.pending().await, 0);

    let dead = env.dead_letters().await;
    assert_eq!(dead.len(), 4);
    // The bad click alone, in the one-click form, under its pack's ID.
    assert_eq!(dead[0].click_id(), Some("b-2"));
    assert!(dead[0].reason.contains("offer_id"), "{}", dead[0].reason);
    assert_eq!(dead[0].fields.len(), stream_entry::FIELDS.len());
    assert_eq!(dead[0].source_id, dead_source(&env, 0).await);
    // The broken pack whole, as it was.
    assert!(dead[1].reason.contains("clicks"), "{}", dead[1].reason);
    assert_eq!(dead[1].fields[0].1, "[[\"cut short");
    // From the compressed pack: its bad click alone, in the one-click form.
    assert_eq!(dead[2].click_id(), Some("z-6"));
    assert_eq!(dead[2].fields.len(), stream_entry::FIELDS.len());
    assert_eq!(dead[2].source_id, dead_source(&env, 2).await);
    // The compressed pack cut short whole, its bytes kept for replay.
    assert!(dead[3].reason.contains("clicks_lz4"), "{}", dead[3].reason);
    assert_eq!(dead[3].fields[0].0, "clicks_lz4");
    env.assert_aggregates_match_clicks().await;
    env.drop().await;
}

/// The ID of the `index`-th entry ever appended (the stream is not trimmed here).
async fn dead_source(env: &Env, index: usize) -> String {
    clickstream::inspect::entries(&mut env.stream.conn().await, &env.stream.key)
        .await
        .expect("xrange")[index]
        .id
        .clone()
}
