//! `GET /api/health` of the worker (SPEC §6): Redis, MySQL and the loop's progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use chrono::{SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};

use crate::processor::Progress;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A loop that has not finished a step for this long is stuck.
const STALLED_AFTER_MS: i64 = 120_000;

pub struct HealthState {
    pub redis: deadpool_redis::Pool,
    pub db: DatabaseConnection,
    pub progress: Arc<Progress>,
}

pub async fn health(state: web::Data<HealthState>) -> HttpResponse {
    let (redis, mysql) = tokio::join!(check_redis(&state.redis), check_mysql(&state.db));
    let loop_check = match state.progress.age_ms() {
        Some(age) if age <= STALLED_AFTER_MS => {
            json!({"status": "up", "last_progress_ms_ago": age})
        }
        Some(age) => json!({"status": "down", "last_progress_ms_ago": age}),
        None => json!({"status": "starting"}),
    };
    let healthy =
        redis["status"] == "up" && mysql["status"] == "up" && loop_check["status"] != "down";
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "service": "worker",
        "checks": {"redis": redis, "mysql": mysql, "loop": loop_check},
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn check_redis(pool: &deadpool_redis::Pool) -> Value {
    timed(async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await
}

async fn check_mysql(db: &DatabaseConnection) -> Value {
    timed(async {
        db.execute_unprepared("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await
}

async fn timed(check: impl Future<Output = Result<(), String>>) -> Value {
    let started = Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => {
            json!({"status": "up", "latency_ms": started.elapsed().as_secs_f64() * 1000.0})
        }
        Ok(Err(error)) => json!({"status": "down", "error": error}),
        Err(_) => json!({"status": "down", "error": "timed out"}),
    }
}
