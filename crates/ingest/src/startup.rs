//! Building and running the HTTP server; tests start it on port 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use clickstream::{Enqueuer, EnqueuerLimits, Redis};
use service_runtime::routes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Settings;
use crate::backlog::Backlog;
use crate::guard::ClientGuard;
use crate::health::{self, HealthState};
use crate::replay::ReplayGuard;
use crate::webhooks::{self, WebhookState};

pub struct Application {
    port: u16,
    server: Server,
    collector: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Application {
    /// Binds the listener and connects to Redis lazily: ingest starts (and
    /// reports itself unhealthy) while Redis is down, and answers 503 until
    /// Redis is back.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        settings.validate()?;
        let senders = crate::senders::load(
            settings.clicks_keys_file.clone(),
            settings
                .webhook_secret_key
                .as_ref()
                .map(|keys| keys.list().to_owned()),
        )
        .map_err(anyhow::Error::msg)?;
        senders.follow(
            Duration::from_secs(settings.clicks_keys_file_check_secs),
            shutdown.clone(),
        );
        let layout = settings.layout();
        let client = Redis::new(&settings.redis)?;
        client.check_topology().await?;
        let redis = client.shared(settings.redis_timeout())?;

        let (enqueuer, collector) = Enqueuer::start(
            redis.clone(),
            &layout,
            EnqueuerLimits {
                max_pipeline: settings.enqueue_max_pipeline as usize,
                max_in_flight: settings.enqueue_max_in_flight as usize,
                timeout: settings.redis_timeout(),
                min_replicas: settings.redis_min_replicas_ack,
                replica_timeout: settings.replica_ack_timeout(),
                overlap_after: clickstream::enqueue::OVERLAP_AFTER,
                pack_compression: settings.pack_compression,
            },
        );
        let backlog = Backlog::start(
            redis.clone(),
            layout.streams().to_vec(),
            enqueuer.pack_ratio(),
            settings.stream_max_backlog,
            shutdown.clone(),
        );
        let guard = ClientGuard::new(
            settings.webhook_allowed_ips.0.clone(),
            settings.trusted_proxies.0.clone(),
            settings.webhook_rate_limit,
            settings.webhook_rate_burst,
        );
        spawn_forgetting_idle_clients(guard.clone(), shutdown.clone());
        let webhook_state = web::Data::new(WebhookState {
            senders,
            replay: ReplayGuard {
                tolerance: Duration::from_secs(settings.webhook_timestamp_tolerance_secs),
                require_timestamp: settings.webhook_require_timestamp,
                redis: redis.clone(),
                layout: layout.clone(),
            },
            layout,
            guard,
            backlog: backlog.clone(),
            enqueuer,
            max_body_bytes: settings.max_body_bytes,
            body_timeout: Duration::from_millis(settings.body_timeout_ms),
            max_batch_body_bytes: settings.max_batch_body_bytes,
            retention_days: settings.clicks_retention_days,
        });
        let health_state = web::Data::new(HealthState { redis, backlog });

        let metrics = web::Data::new(service_runtime::metrics::install());
        service_runtime::metrics::register(service_runtime::metrics::HTTP_METRICS);
        service_runtime::metrics::register(crate::webhooks::METRICS);
        service_runtime::metrics::register(crate::senders::METRICS);
        service_runtime::metrics::register(service_runtime::watched::METRICS);
        let listener = TcpListener::bind(settings.ingest_bind)
            .with_context(|| format!("cannot listen on INGEST_BIND={}", settings.ingest_bind))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::metrics::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(
                    service_runtime::request_id::middleware,
                ))
                .app_data(metrics.clone())
                .service(routes::get("/metrics", service_runtime::metrics::endpoint))
                .app_data(webhook_state.clone())
                .app_data(health_state.clone())
                .service(routes::post("/api/webhook/clicks", webhooks::receive_click))
                .service(routes::post(
                    "/api/webhook/clicks/batch",
                    webhooks::receive_batch,
                ))
                .service(routes::get("/api/health", health::health))
                .service(routes::get("/livez", health::livez))
                .service(routes::get("/readyz", health::readyz))
                .service(routes::get("/api/openapi.json", crate::openapi::serve))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .disable_signals()
        // Slow clients cannot hold a worker: headers in time, or 408 and close.
        .client_request_timeout(Duration::from_millis(settings.header_timeout_ms))
        .backlog(4096);
        if let Some(workers) = settings.http_workers {
            server = server.workers(workers);
        }
        tracing::info!(port, stream = %settings.clicks_queue_name, "ingest listening");
        Ok(Self {
            port,
            server: server.run(),
            collector,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the shutdown token is cancelled, then stops accepting,
    /// finishes the requests in flight (their clicks are enqueued or answered
    /// 503) and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        service_runtime::serve_until_cancelled(self.server, self.shutdown).await?;
        // The server's app factories held the last `Enqueuer` clones; with
        // them gone the collector answers what it has and ends.
        self.collector.await?;
        tracing::info!("ingest stopped");
        Ok(())
    }
}

/// Keeps the rate limiter's memory to the clients seen lately.
fn spawn_forgetting_idle_clients(guard: ClientGuard, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = ticks.tick() => guard.forget_idle_clients(),
                () = shutdown.cancelled() => break,
            }
        }
    });
}
