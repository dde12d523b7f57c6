//! `GET /api/health` (contract: Health): MySQL (the read side) and Redis as checks,
//! Finance's reachability as information only (reports work without it);
//! `/livez` and `/readyz` for orchestrators.
//!
//! The MySQL check names the database it reads (`DATABASE_READ_URL` or
//! `DATABASE_URL`), so a failing replica is told apart from the primary.
//! With `DATABASE_READ_URL` it also shows the replica's state and lag,
//! which never fail the check: a lagging replica still serves reports
//! (they trail the primary by the lag, and the cache stays exact).

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use service_runtime::health;

use crate::AppState;
use crate::export::finance::FinanceClient;

pub async fn health_check(state: web::Data<AppState>) -> HttpResponse {
    let mysql = read_database(&state, true);
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

/// Readiness: reports need their database (Redis is only a cache).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mysql = read_database(&state, false).await;
    let ready = mysql["status"] == "up";
    let body = json!({"ready": ready, "mysql": mysql});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The check of the database reports read: `SELECT 1`, the variable that
/// names it and, for `DATABASE_READ_URL` when `with_replica`, `replica`.
async fn read_database(state: &AppState, with_replica: bool) -> Value {
    let replica_url = state.settings.database_read_url.is_some();
    let ping = health::timed(storage::ping(&state.read_db));
    let replica = async {
        if with_replica && replica_url {
            Some(replica(state).await)
        } else {
            None
        }
    };
    let (mut check, replica) = tokio::join!(ping, replica);
    check["database"] = json!(if replica_url {
        "DATABASE_READ_URL"
    } else {
        "DATABASE_URL"
    });
    if let Some(replica) = replica
        && check["status"] == "up"
    {
        check["replica"] = replica;
    }
    check
}

/// `{"replicating": bool, "lag_seconds": n | null}`; `null` when the read
/// database is not a replica; both unknown (`null`) with an `error` when
/// its status cannot be read, e.g. without the privilege to see it.
async fn replica(state: &AppState) -> Value {
    let status = tokio::time::timeout(
        health::CHECK_TIMEOUT,
        storage::replication::replica_status(&state.read_db),
    )
    .await;
    match status {
        Ok(Ok(Some(status))) => {
            json!({"replicating": status.replicating, "lag_seconds": status.lag_seconds})
        }
        Ok(Ok(None)) => Value::Null,
        Ok(Err(error)) => unknown(&error.to_string()),
        Err(_) => unknown("timed out"),
    }
}

fn unknown(error: &str) -> Value {
    json!({"replicating": null, "lag_seconds": null, "error": error})
}
