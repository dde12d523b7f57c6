//! `GET /api/health` (SPEC §6): healthy when Redis answers.

use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use chrono::{SecondsFormat, Utc};
use redis::aio::ConnectionManager;
use serde_json::json;

const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub struct HealthState {
    pub redis: ConnectionManager,
}

pub async fn health(state: web::Data<HealthState>) -> HttpResponse {
    let started = Instant::now();
    let mut redis = state.redis.clone();
    let ping = tokio::time::timeout(
        PING_TIMEOUT,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let redis_check = match ping {
        Ok(Ok(_)) => json!({"status": "up", "latency_ms": latency_ms}),
        Ok(Err(error)) => json!({"status": "down", "error": error.to_string()}),
        Err(_) => json!({"status": "down", "error": "timed out"}),
    };
    let healthy = redis_check["status"] == "up";
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "service": "ingest",
        "checks": {"redis": redis_check},
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
