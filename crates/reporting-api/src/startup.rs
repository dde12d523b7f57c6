//! Building and running the HTTP server; tests bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{Settings, export, health, openapi, reports};

/// What the handlers share.
pub struct AppState {
    /// The primary: export records are written here.
    pub db: DatabaseConnection,
    /// Report reads (`DATABASE_READ_URL`, or the primary).
    pub read_db: DatabaseConnection,
    /// The report cache.
    pub redis: clickstream::Conn,
    pub settings: Arc<Settings>,
}

impl AppState {
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let db = storage::connect(&settings.database_url, settings.db_connections)
            .await
            .context("cannot connect to DATABASE_URL")?;
        let read_db = if settings.database_read_url.is_some() {
            storage::connect(settings.read_url(), settings.db_connections)
                .await
                .context("cannot connect to DATABASE_READ_URL")?
        } else {
            db.clone()
        };
        let client = clickstream::Redis::new(&settings.redis)?;
        client.check_topology().await?;
        let redis = client.shared(crate::reports::cache::REDIS_TIMEOUT)?;
        Ok(Self {
            db,
            read_db,
            redis,
            settings: Arc::new(settings),
        })
    }
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let keys = web::Data::new(settings.api_keys().map_err(anyhow::Error::msg)?);
        let bind = settings.reporting_bind;
        let state = web::Data::new(AppState::connect(settings).await?);
        let metrics = web::Data::new(service_runtime::metrics::install());
        let listener = TcpListener::bind(bind)
            .with_context(|| format!("cannot listen on REPORTING_BIND={bind}"))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::metrics::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::request_id::middleware,
                ))
                .app_data(metrics.clone())
                .route(
                    "/metrics",
                    web::get().to(service_runtime::metrics::endpoint),
                )
                .app_data(state.clone())
                .app_data(keys.clone())
                .route("/api/health", web::get().to(health::health_check))
                .route("/livez", web::get().to(health::livez))
                .route("/readyz", web::get().to(health::readyz))
                .route("/api/openapi.json", web::get().to(openapi::serve))
                .service(web::scope("/api/reports").configure(reports::configure))
                .service(web::scope("/api/export").configure(export::configure))
                .default_service(web::to(not_found))
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

    /// Serves until the shutdown token is cancelled, finishing requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        service_runtime::serve_until_cancelled(self.server, self.shutdown).await?;
        Ok(())
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "Not found"}))
}
