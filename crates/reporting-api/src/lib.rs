//! `reporting-api`: reports from the aggregates and the export to Finance.
//!
//! This first version serves health only; the report and export endpoints
//! answer 501 until their issues land, so deployments and `make run` already
//! carry all three services.

mod config;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use service_runtime::health;
use tokio_util::sync::CancellationToken;

pub use config::{Command, Settings};

struct State {
    db: DatabaseConnection,
    redis: deadpool_redis::Pool,
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let db = storage::connect(settings.read_url(), 4)
            .await
            .context("cannot connect to DATABASE_READ_URL / DATABASE_URL")?;
        let redis = deadpool_redis::Config::from_url(settings.redis_url.clone())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .context("REDIS_URL is not a usable Redis URL")?;
        let state = web::Data::new(State { db, redis });
        let listener = TcpListener::bind(settings.reporting_bind).with_context(|| {
            format!(
                "cannot listen on REPORTING_BIND={}",
                settings.reporting_bind
            )
        })?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/api/health", web::get().to(health_check))
                .service(web::scope("/api/reports").default_service(web::to(not_implemented)))
                .service(web::scope("/api/export").default_service(web::to(not_implemented)))
        })
        .listen(listener)?
        .disable_signals()
        .run();
        tracing::info!(port, "reporting-api listening");
        Ok(Self {
            port,
            server,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop(true).await;
        });
        self.server.await?;
        Ok(())
    }
}

async fn health_check(state: web::Data<State>) -> HttpResponse {
    let mysql = health::timed(state.db.execute_unprepared("SELECT 1"));
    let redis = health::timed(async {
        let mut conn = state.redis.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
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

async fn not_implemented() -> HttpResponse {
    HttpResponse::NotImplemented().json(json!({"error": "Not implemented yet"}))
}
