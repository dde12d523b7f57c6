//! `DATABASE_URL` and `DATABASE_READ_URL`: checked when the binary starts,
//! never printed with their password, and connected to with one clear line
//! when the server cannot be reached.

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::{ExposeSecret, SecretString};

/// How long the first TCP connection to the server may take before the
/// binary says it cannot reach it (instead of a pool timing out later).
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// A `mysql://` (or `mariadb://`) URL whose password never prints.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Checks the form: scheme, a host, no whitespace. For clap's value
    /// parser; the reason never holds the URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            "is not a URL (expected mysql://user:password@host:3306/database)".to_owned()
        })?;
        if !matches!(scheme, "mysql" | "mariadb") {
            return Err(format!(
                "has the scheme `{scheme}`; expected mysql:// (or mariadb://)"
            ));
        }
        if text.chars().any(char::is_whitespace) {
            return Err("contains whitespace".to_owned());
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host_port.is_empty() || host_port.starts_with(':') {
            return Err("has no host".to_owned());
        }
        if let Some((_, query)) = rest.split_once('?') {
            check_tls_options(query)?;
        }
        // sqlx reads the `mysql` scheme only.
        Ok(Self(SecretString::from(format!("mysql://{rest}"))))
    }

    /// The URL itself, for the driver.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with its password masked, for messages.
    pub fn redacted(&self) -> String {
        redact(self.expose())
    }

    /// `host:port` (port 3306 when none is given).
    fn host_port(&self) -> String {
        let rest = self.expose().trim_start_matches("mysql://");
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let has_port = host_port
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
        if has_port {
            host_port.to_owned()
        } else {
            format!("{host_port}:3306")
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// The TLS options of the URL's query, as the driver reads them:
/// `ssl-mode` = `DISABLED`, `PREFERRED` (the default: TLS when the server
/// offers it, unverified), `REQUIRED`, `VERIFY_CA` or `VERIFY_IDENTITY`
/// (any case), and `ssl-ca` = a PEM file of the CA (else the system roots),
/// which must be readable now rather than at the first connection.
fn check_tls_options(query: &str) -> Result<(), String> {
    const MODES: [&str; 5] = [
        "disabled",
        "preferred",
        "required",
        "verify_ca",
        "verify_identity",
    ];
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ssl-mode" | "sslmode" if !MODES.contains(&value.to_ascii_lowercase().as_str()) => {
                return Err(format!(
                    "has ssl-mode={value}; expected DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                ));
            }
            "ssl-ca" | "sslca" => {
                std::fs::File::open(value).map_err(|error| {
                    format!("has ssl-ca={value}, which cannot be read: {error}")
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `scheme://user:***@rest` for any URL with a password (`user@` alone is
/// kept: a MySQL user name is no secret, unlike clickstream's Redis URLs,
/// where a lone userinfo can be the password).
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_owned();
    };
    let masked = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => rest[..at].to_owned(),
    };
    format!("{scheme}://{masked}@{}", &rest[at + 1..])
}

/// Why a pool could not be opened: one line naming the setting, the URL
/// without its password, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {variable} ({url}): {cause}")]
pub struct ConnectError {
    variable: &'static str,
    url: String,
    cause: String,
}

/// Opens a pool of at most `max_connections` on the database of `url`,
/// the setting `variable`. A server that does not answer on its port fails
/// within [`REACH_TIMEOUT`]; every other error is the driver's, on one line.
pub async fn connect_url(
    url: &DatabaseUrl,
    variable: &'static str,
    max_connections: u32,
) -> Result<DatabaseConnection, ConnectError> {
    let failed = |cause: String| ConnectError {
        variable,
        url: url.redacted(),
        cause: one_line(&cause.replace(url.expose(), &url.redacted())),
    };
    let address = url.host_port();
    match tokio::time::timeout(REACH_TIMEOUT, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(failed(format!("{address}: {error}"))),
        Err(_) => {
            return Err(failed(format!(
                "{address} did not answer within {} s",
                REACH_TIMEOUT.as_secs()
            )));
        }
    }
    crate::connect(url.expose(), max_connections)
        .await
        .map_err(|error: DbErr| failed(error.to_string()))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_print_their_password() {
        let url = DatabaseUrl::parse("mysql://app:hunter2@db.example:3307/clicks").expect("valid");
        assert_eq!(url.expose(), "mysql://app:hunter2@db.example:3307/clicks");
        assert_eq!(url.redacted(), "mysql://app:***@db.example:3307/clicks");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.host_port(), "db.example:3307");
        let maria = DatabaseUrl::parse("mariadb://root@127.0.0.1/clicks").expect("valid");
        assert_eq!(maria.expose(), "mysql://root@127.0.0.1/clicks");
        assert_eq!(maria.host_port(), "127.0.0.1:3306");
        for bad in [
            "",
            "not a url",
            "postgres://x/y",
            "mysql:///clicks",
            "mysql://app:pw@/clicks",
        ] {
            let reason = DatabaseUrl::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} refused"));
            assert!(!reason.contains("pw"), "{reason}");
        }
    }

    #[test]
    fn tls_options_are_checked_when_read() {
        for good in [
            "mysql://u@h/d?ssl-mode=REQUIRED",
            "mysql://u@h/d?ssl-mode=verify_identity&ssl-ca=/dev/null",
            "mysql://u@h/d?sslmode=Disabled",
        ] {
            assert!(DatabaseUrl::parse(good).is_ok(), "{good}");
        }
        let reason = DatabaseUrl::parse("mysql://u:pw@h/d?ssl-mode=ALWAYS").expect_err("bad mode");
        assert!(
            reason.contains("ssl-mode=ALWAYS") && reason.contains("VERIFY_IDENTITY"),
            "{reason}"
        );
        let reason =
            DatabaseUrl::parse("mysql://u:pw@h/d?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem")
                .expect_err("missing CA");
        assert!(
            reason.contains("ssl-ca=/nonexistent/ca.pem") && !reason.contains("pw"),
            "{reason}"
        );
    }

    #[test]
    fn redact_masks_only_a_password() {
        assert_eq!(redact("mysql://u:p@h/d"), "mysql://u:***@h/d");
        assert_eq!(redact("mysql://u@h/d"), "mysql://u@h/d");
        assert_eq!(redact("mysql://h/d?x=a@b"), "mysql://h/d?x=a@b");
        assert_eq!(redact("no url"), "no url");
    }

    #[tokio::test]
    async fn a_closed_port_fails_fast_with_one_line_naming_the_setting() {
        // Port 1 on loopback: nothing listens there.
        let url = DatabaseUrl::parse("mysql://app:hunter2@127.0.0.1:1/clicks").expect("valid");
        let started = std::time::Instant::now();
        let error = connect_url(&url, "DATABASE_URL", 1)
            .await
            .expect_err("nothing listens")
            .to_string();
        assert!(
            started.elapsed() < REACH_TIMEOUT + Duration::from_secs(1),
            "{error}"
        );
        assert!(
            error.starts_with(
                "cannot connect to DATABASE_URL (mysql://app:***@127.0.0.1:1/clicks): "
            ),
            "{error}"
        );
        assert!(
            !error.contains("hunter2") && !error.contains('\n'),
            "{error}"
        );
    }
}
