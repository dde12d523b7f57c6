//! `reporting-api keys new`: makes a reporting key (32 random bytes,
//! base64url) and the `[[reporting_key]]` entry to add to the keys file.
//! The entry holds the key's SHA-256, never the key, so the file is no
//! secret; the key is printed once and kept nowhere. Needs no database.

use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::access::{Scope, key_digest, toml_string};

/// `reporting-api keys …`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new reporting key and print it with its keys-file entry.
    New(NewKeyArgs),
}

/// `reporting-api keys new` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct NewKeyArgs {
    /// The key's name in logs (letters, digits, `.`, `_`, `-`; 1–64).
    #[arg(long)]
    pub name: String,
    /// What the key may do: reports:read, export:read, export:write (repeatable).
    #[arg(long = "scope", required = true, value_parser = scope)]
    pub scopes: Vec<Scope>,
    /// Only this source's rows (repeatable).
    #[arg(long = "source")]
    pub sources: Vec<String>,
    /// Only this offer's rows (repeatable).
    #[arg(long = "offer")]
    pub offers: Vec<u64>,
}

fn scope(name: &str) -> Result<Scope, String> {
    Scope::parse(name)
        .ok_or_else(|| "must be one of reports:read, export:read, export:write".to_owned())
}

/// A new key and the entry that puts it in force.
pub struct NewKey {
    pub key: String,
    pub entry: String,
}

/// Makes a key for `args`; the entry passes the checks the API applies to
/// the keys file, or the reason it would not.
pub fn new_key(args: &NewKeyArgs) -> Result<NewKey, String> {
    let key = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let entry = entry(args, &key_digest(key.as_bytes()));
    domain::access::parse(&entry)?;
    Ok(NewKey { key, entry })
}

/// The `[[reporting_key]]` entry of the key whose SHA-256 is `digest`.
pub fn entry(args: &NewKeyArgs, digest: &[u8; 32]) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut lines = vec![
        "[[reporting_key]]".to_owned(),
        format!("name = {}", toml_string(&args.name)),
        format!("sha256 = \"{}\"", hex::encode(digest)),
        format!(
            "scopes = {}",
            list(args.scopes.iter().map(|s| toml_string(s.name())).collect())
        ),
    ];
    if !args.sources.is_empty() {
        let sources = args.sources.iter().map(|s| toml_string(s)).collect();
        lines.push(format!("sources = {}", list(sources)));
    }
    if !args.offers.is_empty() {
        let offers = args.offers.iter().map(u64::to_string).collect();
        lines.push(format!("offers = {}", list(offers)));
    }
    lines.join("\n") + "\n"
}

/// Runs `reporting-api keys …`; the process exit code.
pub fn run(args: KeysArgs) -> ExitCode {
    let KeysCommand::New(args) = args.command;
    match new_key(&args) {
        Ok(NewKey { key, entry }) => {
            println!("The new key (shown only now; it is stored nowhere, keep it secret):\n");
            println!("    {key}\n");
            println!(
                "Add this entry to the keys file (CLICKS_KEYS_FILE); it holds the key's SHA-256, not the key.\n\
                 A running reporting-api takes it within seconds (or on SIGHUP):\n"
            );
            print!("{entry}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("reporting-api keys new: {reason}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(sources: &[&str], offers: &[u64]) -> NewKeyArgs {
        NewKeyArgs {
            name: "partner-a".to_owned(),
            scopes: vec![Scope::ReportsRead],
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            offers: offers.to_vec(),
        }
    }

    #[test]
    fn the_entry_names_the_digest_scopes_and_restriction() {
        let digest = [0xab; 32];
        let text = entry(&args(&["net_a", "say \"hi\"\\"], &[7, 12]), &digest);
        assert_eq!(
            text,
            format!(
                "[[reporting_key]]\nname = \"partner-a\"\nsha256 = \"{}\"\n\
                 scopes = [\"reports:read\"]\nsources = [\"net_a\", \"say \\\"hi\\\"\\\\\"]\n\
                 offers = [7, 12]\n",
                "ab".repeat(32)
            )
        );
        let parsed = domain::access::parse(&text).expect("the keys file accepts it");
        let key = &parsed.reporting_keys[0];
        assert_eq!(key.sha256, digest);
        assert_eq!(
            key.sources,
            Some(vec!["net_a".to_owned(), "say \"hi\"\\".to_owned()])
        );
        assert_eq!(key.offers, Some(vec![7, 12]));
    }

    #[test]
    fn a_new_key_is_random_and_only_its_digest_is_in_the_entry() {
        let first = new_key(&args(&[], &[])).expect("key");
        let second = new_key(&args(&[], &[])).expect("key");
        assert_ne!(first.key, second.key);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&first.key).expect("base64url").len(),
            32
        );
        assert!(!first.entry.contains(&first.key));
        assert!(!first.entry.contains("sources") && !first.entry.contains("offers"));
        let parsed = domain::access::parse(&first.entry).expect("parses");
        assert_eq!(
            parsed.reporting_keys[0].sha256,
            key_digest(first.key.as_bytes())
        );
        assert_eq!(parsed.reporting_keys[0].scopes, [Scope::ReportsRead]);
    }

    #[test]
    fn entries_the_file_would_refuse_are_refused() {
        let mut bad_name = args(&[], &[]);
        bad_name.name = "a b".to_owned();
        assert!(new_key(&bad_name).is_err());
        let mut restricted_export = args(&["net_a"], &[]);
        restricted_export.scopes.push(Scope::ExportWrite);
        let reason = new_key(&restricted_export).err().expect("refused");
        assert!(reason.contains("may only have reports:read"), "{reason}");
    }

    #[test]
    fn the_command_line_reads_repeated_flags() {
        use clap::Parser;
        let settings = crate::Settings::try_parse_from([
            "reporting-api",
            "keys",
            "new",
            "--name=p",
            "--scope=reports:read",
            "--scope",
            "export:read",
            "--source=a",
            "--source=b",
            "--offer=3",
        ])
        .expect("parsed");
        let Some(crate::Command::Keys(KeysArgs {
            command: KeysCommand::New(new),
        })) = settings.command
        else {
            panic!("keys new");
        };
        assert_eq!(new.scopes, [Scope::ReportsRead, Scope::ExportRead]);
        assert_eq!((new.sources.len(), new.offers.as_slice()), (2, &[3][..]));
        assert!(
            crate::Settings::try_parse_from([
                "reporting-api",
                "keys",
                "new",
                "--name=p",
                "--scope=x"
            ])
            .is_err()
        );
    }
}
