//! `worker dead-letter list|replay`: operator commands on the dead-letter stream.

use std::process::ExitCode;

use anyhow::Context;

use clickstream::Redis;
use clickstream::dead_letter::{self, Selection};

use crate::{DeadLetterCommand, Settings};

pub async fn dead_letter_command(
    settings: &Settings,
    command: DeadLetterCommand,
) -> anyhow::Result<ExitCode> {
    let redis = Redis::new(&settings.redis)?;
    let mut conn = redis
        .dedicated(std::time::Duration::from_secs(30))
        .await
        .with_context(|| format!("cannot connect to REDIS_URL ({})", redis.redacted_url()))?;
    // One dead-letter stream per shard of the stream.
    let shards = settings.shard_names("");
    match command {
        DeadLetterCommand::List { count, json } => {
            if !json {
                println!("{:<22} {:<22} {:<24} reason", "id", "source id", "click_id");
            }
            for (names, letters) in dead_letter::list_shards(&mut conn, &shards, count).await? {
                for letter in &letters {
                    if json {
                        println!("{}", serde_json::to_string(letter)?);
                    } else {
                        println!(
                            "{:<22} {:<22} {:<24} {}",
                            letter.id,
                            letter.source_id,
                            letter.click_id().unwrap_or("-"),
                            letter.reason
                        );
                    }
                }
                if !json {
                    eprintln!(
                        "{} dead letter(s) in {}",
                        letters.len(),
                        names.dead_letter()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadLetterCommand::Replay { ids, all } => {
            let selection = if all {
                Selection::All
            } else {
                Selection::Ids(ids)
            };
            let outcome = dead_letter::replay_shards(&mut conn, &shards, selection).await?;
            for (stream, replayed) in &outcome.replayed {
                eprintln!(
                    "replayed {} entr{} onto {stream}",
                    replayed.len(),
                    if replayed.len() == 1 { "y" } else { "ies" },
                );
            }
            for id in &outcome.missing {
                eprintln!("not in the dead-letter stream: {id}");
            }
            Ok(if outcome.missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
