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
    let names = StreamNames {
        stream: settings.clicks_queue_name.clone(),
        group: settings.group.clone(),
        consumer: String::new(),
    };
    match command {
        DeadLetterCommand::List { count, json } => {
            let letters = dead_letter::list(&mut conn, &names, count).await?;
            if json {
                for letter in &letters {
                    println!("{}", serde_json::to_string(letter)?);
                }
            } else {
                println!("{:<22} {:<22} {:<24} reason", "id", "source id", "click_id");
                for letter in &letters {
                    println!(
                        "{:<22} {:<22} {:<24} {}",
                        letter.id,
                        letter.source_id,
                        letter.click_id().unwrap_or("-"),
                        letter.reason
                    );
                }
                eprintln!(
                    "{} dead letter(s) in {}",
                    letters.len(),
                    names.dead_letter()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadLetterCommand::Replay { ids, all } => {
            let selection = if all {
                Selection::All
            } else {
                Selection::Ids(ids)
            };
            let outcome = dead_letter::replay(&mut conn, &names, selection).await?;
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
