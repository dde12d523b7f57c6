//! `GET /api/health` (contract: Health) with the state of Redis and of the backlog,
//! and the orchestrator probes: `/livez` (the process answers; never depends
//! on a dependency) and `/readyz` (send traffic here: Redis reachable and the
//! backlog below 80% of `STREAM_MAX_BACKLOG`).

use actix_web::{HttpResponse, web};
use serde_json::json;
use service_runtime::health;

use crate::backlog::Backlog;

pub struct HealthState {
    pub redis: clickstream::Conn,
    pub backlog: Backlog,
}

/// Healthy when Redis answers and the workers keep up.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "meta",
    responses(
        (status = 200, description = "Healthy", content_type = "application/json"),
        (status = 503, description = "Redis is down or the backlog is over its limit", content_type = "application/json"),
    )
)]
pub async fn health(state: web::Data<HealthState>) -> HttpResponse {
    let redis_check = health::redis(&state.redis).await;
    let mut backlog_check = match (state.backlog.current(), state.backlog.max()) {
        (None, max) => {
            json!({"status": "down", "error": "not measured: Redis unreachable", "max": max})
        }
        (Some(entries), max) if max > 0 && entries >= max => {
            json!({"status": "down", "entries": entries, "max": max})
        }
        (Some(entries), max) => json!({"status": "up", "entries": entries, "max": max}),
    };
    backlog_check["shards_unanswered"] = json!(state.backlog.shards_unanswered());
    let (healthy, body) = health::report(
        "ingest",
        vec![("redis", redis_check), ("backlog", backlog_check)],
    );
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/livez", tag = "meta", responses((status = 200, description = "Alive")))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

/// Readiness: Redis reachable and the backlog below 80% of its limit.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, description = "Ready for traffic"),
        (status = 503, description = "Not ready: Redis unreachable or backlog high"),
    )
)]
pub async fn readyz(state: web::Data<HealthState>) -> HttpResponse {
    let body = json!({"ready": state.backlog.ready(), "backlog": state.backlog.current()});
    if state.backlog.ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
