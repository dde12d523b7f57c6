//! Building and running the HTTP server; tests bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use service_runtime::routes;
use tokio_util::sync::CancellationToken;

use crate::keys::KeySource;
use crate::{Settings, auth, dashboard, export, health, openapi, reports};

/// A setting that keeps the API from starting (e.g. a malformed keys
/// file): one line naming the variable, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigurationError(pub String);

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
        let db = storage::connect_url(
            &settings.database_url,
            "DATABASE_URL",
            settings.db_connections,
        )
        .await?;
        let read_db = if settings.database_read_url.is_some() {
            storage::connect_url(
                settings.read_url(),
                "DATABASE_READ_URL",
                settings.db_connections,
            )
            .await?
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
        let keys: web::Data<KeySource> =
            web::Data::new(settings.api_keys().map_err(ConfigurationError)?);
        let bind = settings.reporting_bind;
        let check_every = std::time::Duration::from_secs(settings.clicks_keys_file_check_secs);
        let state = web::Data::new(AppState::connect(settings).await?);
        let metrics = web::Data::new(service_runtime::metrics::install());
        service_runtime::metrics::register(service_runtime::metrics::HTTP_METRICS);
        service_runtime::metrics::register(crate::export::METRICS);
        service_runtime::metrics::register(crate::reports::METRICS);
        service_runtime::metrics::register(crate::dashboard::METRICS);
        service_runtime::metrics::register(service_runtime::watched::METRICS);
        let listener = TcpListener::bind(bind)
            .with_context(|| format!("cannot listen on REPORTING_BIND={bind}"))?;
        let port = listener.local_addr()?.port();
        let follow = keys.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(auth::caller_span))
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::metrics::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::request_id::middleware,
                ))
                .app_data(metrics.clone())
                .service(routes::get("/metrics", service_runtime::metrics::endpoint))
                .app_data(state.clone())
                .app_data(keys.clone())
                .service(routes::get("/api/health", health::health_check))
                .service(routes::get("/livez", health::livez))
                .service(routes::get("/readyz", health::readyz))
                .service(routes::get("/api/openapi.json", openapi::serve))
                .service(web::scope("/api/reports").configure(reports::configure))
                .service(web::scope("/api/export").configure(export::configure))
                .configure(dashboard::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .disable_signals()
        .run();
        follow.follow(check_every, shutdown.clone());
        tracing::info!(
            port,
            keys = follow.current().len(),
            "reporting-api listening"
        );
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
