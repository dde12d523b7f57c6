//! Scenario `senders`: single-click webhooks (the `single` load, no worker)
//! with 1,000 senders in the keys file, against one `WEBHOOK_SECRET_KEY` in
//! the same run:
//!
//! - one secret: ingest as every other scenario runs it;
//! - 1,000 senders, named: the load signs with the last sender's key and
//!   names it (`X-Sender`), so one key is tried; target ≥ 0.95 × one secret;
//! - 1,000 senders, unnamed: the same key without `X-Sender`, so every key
//!   before it is tried first (the worst case of a key list).
//!
//! Ingest is then started again as it was.

use serde_json::json;

use super::webhooks;
use crate::harness::Harness;
use crate::report::Row;

const SENDERS: usize = 1_000;

pub async fn run(h: &mut Harness) -> anyhow::Result<Vec<Row>> {
    let one_secret = webhooks::single_as(h, "senders: one secret", "so").await?;
    let path = h.work_dir().join("keys.toml");
    std::fs::write(&path, keys_file())?;
    let settings = vec![("CLICKS_KEYS_FILE".to_owned(), path.display().to_string())];
    let (last_key, last_name) = (key(SENDERS), name(SENDERS));
    h.restart_ingest_with(settings.clone(), &last_key, Some(&last_name))
        .await?;
    let named = webhooks::single_as(h, "senders: 1,000, named", "sn").await?;
    h.restart_ingest_with(settings, &last_key, None).await?;
    let unnamed = webhooks::single_as(h, "senders: 1,000, unnamed", "su").await?;
    let secret = h.secret().to_owned();
    h.restart_ingest_with(Vec::new(), &secret, None).await?;
    let ratio = |row: &Row| match (&row.figure, &one_secret.figure) {
        (Some(ours), Some(base)) if base.rate > 0.0 => ours.rate / base.rate,
        _ => f64::NAN,
    };
    let (named_ratio, unnamed_ratio) = (ratio(&named), ratio(&unnamed));
    let verdict = Row::new(
        "senders: 1,000 named / one secret",
        format!("{named_ratio:.3}"),
    )
    .notes(format!(
        "target ≥ 0.95; unnamed (the last of {SENDERS} keys, every key tried): {unnamed_ratio:.3}"
    ))
    .json(json!({"named_ratio": named_ratio, "unnamed_ratio": unnamed_ratio, "senders": SENDERS}));
    Ok(vec![one_secret, named, unnamed, verdict])
}

fn name(n: usize) -> String {
    format!("bench-sender-{n}")
}

fn key(n: usize) -> String {
    format!("bench-sender-key-{n}-{}", "k".repeat(24))
}

/// `SENDERS` senders, each allowed the bench's sources.
fn keys_file() -> String {
    (1..=SENDERS)
        .map(|n| {
            format!(
                "[[sender]]\nname = \"{}\"\nsources = [\"network_*\"]\nkeys = [\"{}\"]\n\n",
                name(n),
                key(n)
            )
        })
        .collect()
}
