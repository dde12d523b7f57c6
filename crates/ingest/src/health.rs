//! `GET /api/health` (SPEC §6): healthy when Redis answers.

use actix_web::{HttpResponse, web};
use redis::aio::ConnectionManager;
use service_runtime::health;

pub struct HealthState {
    pub redis: ConnectionManager,
}

/// Healthy when Redis answers.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "meta",
    responses(
        (status = 200, description = "Healthy", content_type = "application/json"),
        (status = 503, description = "Redis is down", content_type = "application/json"),
    )
)]
pub async fn health(state: web::Data<HealthState>) -> HttpResponse {
    let mut redis = state.redis.clone();
    let redis_check = health::timed(async move {
        redis::cmd("PING")
            .query_async::<String>(&mut redis)
            .await
            .map(drop)
    })
    .await;
    let (healthy, body) = health::report("ingest", vec![("redis", redis_check)]);
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
