//! `migrate` behaves like the other binaries: its documented default
//! `DATABASE_URL`, one line naming the variable for a bad or unreachable
//! one (password masked), exit status 2 for a setting and 1 for a failure,
//! never a panic.

use std::process::{Command, Output};

/// The old service's variables, cleared so the caller's environment cannot leak in.
const LEGACY: [&str; 5] = [
    "DB_HOST",
    "DB_PORT",
    "DB_DATABASE",
    "DB_USERNAME",
    "DB_PASSWORD",
];

fn migrate(envs: &[(&str, &str)], args: &[&str]) -> Output {
    // A directory without a `.env`, and no DATABASE_URL from the caller.
    migrate_in(&std::env::temp_dir(), envs, args)
}

fn migrate_in(dir: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migrate"));
    for name in LEGACY {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .envs(envs.iter().copied())
        .args(args)
        .output()
        .expect("run migrate")
}

fn one_line_stderr(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn an_unreachable_database_is_one_line_without_the_password() {
    let started = std::time::Instant::now();
    let output = migrate(
        &[("DATABASE_URL", "mysql://app:hunter2@127.0.0.1:1/clicks")],
        &[],
    );
    let stderr = one_line_stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "migrate: cannot connect to DATABASE_URL (mysql://app:***@127.0.0.1:1/clicks)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(started.elapsed().as_secs() < 10, "fails fast");
}

#[test]
fn a_malformed_database_url_is_a_setting_error() {
    for url in ["not a url", "postgres://app:hunter2@db/clicks"] {
        let output = migrate(&[("DATABASE_URL", url)], &["status"]);
        let stderr = one_line_stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn without_database_url_the_documented_default_is_used() {
    let help = migrate(&[], &["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    assert!(
        text.contains("DATABASE_URL")
            && text.contains("mysql://root@127.0.0.1:3306/clicks_service"),
        "{text}"
    );
    // Whether or not that database exists here, the answer is not a panic.
    let output = migrate(&[], &["status"]);
    assert_ne!(output.status.code(), Some(101), "{output:?}");
    if !output.status.success() {
        let stderr = one_line_stderr(&output);
        assert!(
            stderr.contains("DATABASE_URL") || stderr.starts_with("migrate: "),
            "{stderr}"
        );
    }
}

/// An operator's old `.env` (DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME,
/// DB_PASSWORD) still picks the database when DATABASE_URL is set nowhere,
/// from the environment or from the file, the password percent-encoded.
#[test]
fn the_old_services_db_variables_make_the_database_url() {
    let legacy = [
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", "1"),
        ("DB_DATABASE", "legacy"),
        ("DB_USERNAME", "app"),
        ("DB_PASSWORD", "p@ss:hunter2"),
    ];
    let expected = "migrate: cannot connect to DATABASE_URL (mysql://app:***@127.0.0.1:1/legacy)";
    let from_env = migrate(&legacy, &[]);
    let stderr = one_line_stderr(&from_env);
    assert!(stderr.starts_with(expected), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("migrate-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dotenv: String = legacy
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    std::fs::write(dir.join(".env"), dotenv).expect(".env");
    let from_file = migrate_in(&dir, &[], &[]);
    let stderr = one_line_stderr(&from_file);
    assert!(stderr.starts_with(expected), "{stderr}");
    // DATABASE_URL, where given, wins over the old variables.
    let url = migrate_in(
        &dir,
        &[("DATABASE_URL", "mysql://new@127.0.0.1:1/new")],
        &[],
    );
    let stderr = one_line_stderr(&url);
    assert!(stderr.contains("(mysql://new@127.0.0.1:1/new)"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
