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
