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
