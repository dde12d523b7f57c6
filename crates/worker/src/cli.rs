//! `worker dead-letter list|replay`: operator commands on the dead-letter stream.

use std::process::ExitCode;

use anyhow::Context;

use crate::dead_letter::{self, Selection};
use crate::stream::StreamNames;
use crate::{DeadLetterCommand, Settings};

pub async fn dead_letter_command(
    settings: &Settings,
    command: DeadLetterCommand,
) -> anyhow::Result<ExitCode> {
    let client = redis::Client::open(settings.redis_url.as_str())
        .context("REDIS_URL is not a usable Redis URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .context("cannot connect to REDIS_URL")?;
    // One dead-letter stream per shard of the stream.
    let shards: Vec<StreamNames> = settings
        .stream_keys()
        .into_iter()
        .map(|stream| StreamNames {
            stream,
            group: settings.group.clone(),
            consumer: String::new(),
        })
        .collect();
    match command {
        DeadLetterCommand::List { count, json } => {
            if !json {
                println!("{:<22} {:<22} {:<24} reason", "id", "source id", "click_id");
            }
            let mut left = count;
            for names in &shards {
                if left == 0 {
                    break;
                }
                let letters = dead_letter::list(&mut conn, names, left).await?;
                left -= letters.len();
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
            // An ID is looked for in every shard's dead-letter stream; it is
            // missing only when none has it.
            let mut missing: Option<Vec<String>> = None;
            for names in &shards {
                let selection = if all {
                    Selection::All
                } else {
                    Selection::Ids(ids.clone())
                };
                let outcome = dead_letter::replay(&mut conn, names, selection).await?;
                eprintln!(
                    "replayed {} entr{} onto {}",
                    outcome.replayed.len(),
                    if outcome.replayed.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    names.stream
                );
                missing = Some(match missing {
                    None => outcome.missing,
                    Some(before) => before
                        .into_iter()
                        .filter(|id| outcome.missing.contains(id))
                        .collect(),
                });
            }
            let missing = missing.unwrap_or_default();
            for id in &missing {
                eprintln!("not in the dead-letter stream: {id}");
            }
            Ok(if missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
