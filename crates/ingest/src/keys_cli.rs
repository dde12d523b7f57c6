//! `ingest keys new-sender`: makes a signing key for a new sender and the
//! `[[sender]]` entry to add to the keys file (`CLICKS_KEYS_FILE`). The key
//! is `whsec_<base64 of 32 random bytes>`: Standard Webhooks senders use it
//! as that scheme says (base64-decoded); `X-Signature` senders use the whole
//! string as their HMAC key. Needs no Redis.

use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::access::toml_string;

/// `ingest keys …`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a signing key for a new sender and print its keys-file entry.
    NewSender(NewSenderArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct NewSenderArgs {
    /// The sender's name, also its `X-Sender` (letters, digits, `.`, `_`, `-`; 1–64).
    #[arg(long)]
    pub name: String,
    /// A source it may post: exact, or a prefix ending in `*` (repeatable).
    #[arg(long = "source", required = true)]
    pub sources: Vec<String>,
    /// Requests per second it may send (optional).
    #[arg(long)]
    pub rate_limit: Option<u32>,
}

/// A fresh key and the entry that puts it in force, checked as the keys
/// file is.
pub fn new_sender(args: &NewSenderArgs) -> Result<(String, String), String> {
    let key = format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 32]>()));
    let sources: Vec<String> = args.sources.iter().map(|s| toml_string(s)).collect();
    let mut entry = format!(
        "[[sender]]\nname = {}\nsources = [{}]\nkeys = [{}]\n",
        toml_string(&args.name),
        sources.join(", "),
        toml_string(&key)
    );
    if let Some(rate) = args.rate_limit {
        entry.push_str(&format!("rate_limit = {rate}\n"));
    }
    domain::access::parse(&entry)?;
    Ok((key, entry))
}

/// Runs `ingest keys …`; the exit code.
pub fn run(args: KeysArgs) -> ExitCode {
    let KeysCommand::NewSender(args) = args.command;
    match new_sender(&args) {
        Ok((_key, entry)) => {
            println!(
                "Give the sender its key over a safe channel; it is in the entry below and nowhere else.\n\
                 Add the entry to the keys file (CLICKS_KEYS_FILE); a running ingest takes it within\n\
                 seconds (or on SIGHUP). To rotate later, add a second key to `keys`, then remove the old one.\n"
            );
            print!("{entry}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("ingest keys new-sender: {reason}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, sources: &[&str]) -> NewSenderArgs {
        NewSenderArgs {
            name: name.to_owned(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            rate_limit: Some(50),
        }
    }

    #[test]
    fn the_entry_is_a_working_sender() {
        let (key, entry) = new_sender(&args("net-a", &["network_a", "net_a_*"])).expect("entry");
        let file = domain::access::parse(&entry).expect("parses");
        let sender = &file.senders[0];
        assert_eq!(sender.keys, std::slice::from_ref(&key));
        assert!(sender.allows("net_a_eu") && !sender.allows("network_b"));
        assert_eq!(sender.rate_limit, Some(50));
        let senders = domain::senders::Senders::new(&file.senders, None).expect("senders");
        let header = domain::sign(key.as_bytes(), b"{}");
        let found = senders
            .by_signature(Some("net-a"), Some(header.as_bytes()), b"{}")
            .expect("the key verifies");
        assert_eq!(found.name, "net-a");
        let (other, _) = new_sender(&args("net-a", &["network_a"])).expect("entry");
        assert_ne!(other, key, "every key is new");
    }

    #[test]
    fn a_bad_name_or_pattern_is_refused() {
        assert!(new_sender(&args("net a", &["x"])).is_err());
        assert!(new_sender(&args("net-a", &["x*y"])).is_err());
    }
}
