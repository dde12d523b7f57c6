//! Asking a running service over HTTP, and waiting for it to say what a test
//! expects (a state change such as a dependency going down is seen by the
//! service's next check, not at once).

use std::time::{Duration, Instant};

use serde_json::Value;

/// How often [`wait_for_status`] asks again.
const POLL: Duration = Duration::from_millis(50);

/// `GET url`: the status and the JSON body (`Null` when the body is not JSON).
pub async fn get_json(url: &str) -> Result<(u16, Value), String> {
    let response = reqwest::get(url).await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Asks `GET url` until it answers `status`, and returns that answer's body;
/// panics after `limit` with the last answer.
pub async fn wait_for_status(url: &str, status: u16, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let last = match get_json(url).await {
            Ok((got, body)) if got == status => return body,
            Ok((got, body)) => format!("{got} {body}"),
            Err(error) => error,
        };
        assert!(
            Instant::now() < deadline,
            "GET {url} did not answer {status} within {limit:?}; last: {last}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `<base>/api/health` answers 503 for `service` with the
/// dependency `failed` down (and an error text) and `other` still up, and
/// checks that `/livez` stays 200 meanwhile. Returns the health body.
pub async fn wait_for_dependency_down(
    base: &str,
    service: &str,
    failed: &str,
    other: &str,
    limit: Duration,
) -> Value {
    let body = wait_for_status(&format!("{base}/api/health"), 503, limit).await;
    assert_eq!(body["status"], "unhealthy", "{body}");
    assert_eq!(body["service"], service, "{body}");
    assert_eq!(body["checks"][failed]["status"], "down", "{body}");
    assert!(body["checks"][failed]["error"].is_string(), "{body}");
    assert_eq!(body["checks"][other]["status"], "up", "{body}");
    let (status, _) = get_json(&format!("{base}/livez"))
        .await
        .expect("livez answers");
    assert_eq!(status, 200, "liveness never depends on {failed}");
    body
}

/// Waits until `<base>/api/health` is 200 with every check in `checks` up,
/// then until `/readyz` is 200.
pub async fn wait_for_all_up(base: &str, checks: &[&str], limit: Duration) {
    let body = wait_for_status(&format!("{base}/api/health"), 200, limit).await;
    assert_eq!(body["status"], "healthy", "{body}");
    for check in checks {
        assert_eq!(body["checks"][check]["status"], "up", "{check}: {body}");
    }
    wait_for_status(&format!("{base}/readyz"), 200, limit).await;
}

/// The first answer of `GET /metrics` of a fresh process of `program`
/// (a binary of the workspace), started with `envs` and listening on a free
/// port of 127.0.0.1 given as `bind_variable`: what an operator's first
/// scrape sees, before any traffic. The process is killed afterwards.
pub async fn first_scrape(program: &str, envs: &[(&str, String)], bind_variable: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut child = tokio::process::Command::new(program)
        .envs(envs.iter().map(|(name, value)| (*name, value.as_str())))
        .env(bind_variable, format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            break response.text().await.expect("metrics text");
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{program} exited with {status} before answering {url}");
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer within 20 s"
        );
        tokio::time::sleep(POLL).await;
    };
    child.kill().await.ok();
    text
}

/// Asserts that `text` (a scrape) describes every metric of `names` with a
/// `# HELP` line, holds each series of `zeros` at exactly 0, and carries
/// the process's own figures (resident memory above 0, CPU time, threads).
pub fn assert_registered(text: &str, names: &[&str], zeros: &[&str]) {
    for (name, positive) in [
        ("process_resident_memory_bytes", true),
        ("process_cpu_seconds_total", false),
        ("process_threads", true),
        ("process_open_fds", true),
    ] {
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in:\n{text}"));
        assert!(
            value >= 0.0 && (!positive || value > 0.0),
            "{name} = {value}"
        );
    }
    for name in names {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "# HELP {name} in:\n{text}"
        );
    }
    for series in zeros {
        assert!(
            text.lines().any(|line| line == format!("{series} 0")),
            "{series} 0 in:\n{text}"
        );
    }
}
