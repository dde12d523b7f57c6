//! `GET /api/health` of the worker (contract: Health): Redis, MySQL and the loop's progress.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde_json::json;
use service_runtime::health;

use crate::processor::Progress;

/// A loop that has not finished a step for this long is stuck.
const STALLED_AFTER_MS: i64 = 120_000;

pub struct HealthState {
    pub redis: clickstream::Conn,
    pub db: DatabaseConnection,
    /// One per lane.
    pub progress: Vec<Arc<Progress>>,
}

pub async fn health(state: web::Data<HealthState>) -> HttpResponse {
    let redis = health::redis(&state.redis);
    let mysql = health::timed(storage::ping(&state.db));
    let (redis, mysql) = tokio::join!(redis, mysql);
    // The slowest lane speaks for the process: a stuck lane is a stuck worker.
    let ages: Vec<Option<i64>> = state.progress.iter().map(|p| p.age_ms()).collect();
    let oldest = if ages.iter().any(Option::is_none) {
        None
    } else {
        ages.into_iter().flatten().max()
    };
    let loop_check = match oldest {
        Some(age) if age <= STALLED_AFTER_MS => {
            json!({"status": "up", "last_progress_ms_ago": age})
        }
        Some(age) => json!({"status": "down", "last_progress_ms_ago": age}),
        None => json!({"status": "starting"}),
    };
    let (healthy, body) = health::report(
        "worker",
        vec![("redis", redis), ("mysql", mysql), ("loop", loop_check)],
    );
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Liveness: the process answers; never depends on a dependency.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

/// Readiness: Redis and MySQL reachable.
pub async fn readyz(state: web::Data<HealthState>) -> HttpResponse {
    let redis = health::redis(&state.redis);
    let mysql = health::timed(storage::ping(&state.db));
    let (redis, mysql) = tokio::join!(redis, mysql);
    let ready = redis["status"] == "up" && mysql["status"] == "up";
    let body = json!({"ready": ready, "redis": redis, "mysql": mysql});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
