//! `GET /api/health` (contract: Health): MySQL (the read side) and Redis as checks,
//! Finance's reachability as information only (reports work without it);
//! `/livez` and `/readyz` for orchestrators.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;
use serde_json::json;
use service_runtime::health;

use crate::AppState;
use crate::export::finance::FinanceClient;

pub async fn health_check(state: web::Data<AppState>) -> HttpResponse {
    let mysql = health::timed(state.read_db.execute_unprepared("SELECT 1"));
    let redis = health::redis(&state.redis);
    let finance = async {
        let started = Instant::now();
        let reachable = match FinanceClient::new(&state.settings.finance) {
            Ok(client) => client.is_available().await,
            Err(_) => false,
        };
        json!({"reachable": reachable, "latency_ms": started.elapsed().as_secs_f64() * 1000.0})
    };
    let (mysql, redis, finance) = tokio::join!(mysql, redis, finance);
    let (healthy, mut body) =
        health::report("reporting-api", vec![("mysql", mysql), ("redis", redis)]);
    body["information"] = json!({"finance": finance});
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

/// Readiness: reports need MySQL (Redis is only a cache).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mysql = health::timed(state.read_db.execute_unprepared("SELECT 1")).await;
    let ready = mysql["status"] == "up";
    let body = json!({"ready": ready, "mysql": mysql});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
