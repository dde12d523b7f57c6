//! `GET /api/health` (SPEC §6): MySQL (the read side) and Redis.

use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;
use service_runtime::health;

use crate::AppState;

pub async fn health_check(state: web::Data<AppState>) -> HttpResponse {
    let mysql = health::timed(state.read_db.execute_unprepared("SELECT 1"));
    let redis = health::timed(async {
        let mut conn = state.redis.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    });
    let (mysql, redis) = tokio::join!(mysql, redis);
    let (healthy, body) = health::report("reporting-api", vec![("mysql", mysql), ("redis", redis)]);
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
