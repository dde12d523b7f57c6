//! The shape of `GET /api/health` (contract: Health), shared by every binary: each
//! dependency check is timed and reported under `checks`; the service is
//! healthy when every check is.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// How long one dependency may take to answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs a check with [`CHECK_TIMEOUT`]: `{"status":"up","latency_ms":…}` or
/// `{"status":"down","error":…}`.
pub async fn timed<T, E: std::fmt::Display>(check: impl Future<Output = Result<T, E>>) -> Value {
    timed_with_details(async { check.await.map(|_| Map::new()) }).await
}

/// [`timed`], with the fields a check that passed adds to its report.
async fn timed_with_details<E: std::fmt::Display>(
    check: impl Future<Output = Result<Map<String, Value>, E>>,
) -> Value {
    let started = Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(details)) => {
            let mut report =
                json!({"status": "up", "latency_ms": started.elapsed().as_secs_f64() * 1000.0});
            if let Value::Object(fields) = &mut report {
                fields.extend(details);
            }
            report
        }
        Ok(Err(error)) => json!({"status": "down", "error": error.to_string()}),
        Err(_) => json!({"status": "down", "error": "timed out"}),
    }
}

/// The check of Redis, alike in every binary: `PING` on one node; on a
/// cluster its state too, `down` when some slot has no master and `up` with
/// `"degraded": true` when every slot is served but a node is failing or a
/// master has no replica left.
pub async fn redis(conn: &clickstream::Conn) -> Value {
    let mut conn = conn.clone();
    timed_with_details(async move {
        let mut details = Map::new();
        if let Some(cluster) = clickstream::health::check(&mut conn).await? {
            details.insert("degraded".into(), json!(cluster.is_degraded()));
            details.insert("cluster".into(), json!(cluster));
        }
        Ok::<_, String>(details)
    })
    .await
}

/// The health body and whether it is healthy: every check's `status` is
/// `up` (or `starting`, which is not a failure).
pub fn report(service: &str, checks: Vec<(&str, Value)>) -> (bool, Value) {
    let healthy = checks
        .iter()
        .all(|(_, check)| matches!(check["status"].as_str(), Some("up" | "starting")));
    let checks: Map<String, Value> = checks
        .into_iter()
        .map(|(name, check)| (name.to_owned(), check))
        .collect();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "service": service,
        "checks": checks,
    });
    (healthy, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_check_makes_the_service_unhealthy() {
        let up = timed(async { Ok::<(), String>(()) }).await;
        let down = timed(async { Err::<(), _>("refused") }).await;
        assert_eq!(down["error"], "refused");
        let (healthy, body) = report("x", vec![("a", up.clone())]);
        assert!(healthy);
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["service"], "x");
        let (healthy, body) = report("x", vec![("a", up), ("b", down)]);
        assert!(!healthy);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["checks"]["b"]["status"], "down");
    }
}
