//! Building the worker and its health server; tests bind port 0.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use service_runtime::routes;
use tokio_util::sync::CancellationToken;

use crate::Settings;
use crate::aggregator::Aggregator;
use crate::health::{self, HealthState};
use crate::processor::{Lane, LaneOptions};
use clickstream::Redis;

pub struct Application {
    port: u16,
    server: Server,
    /// The consumers of this process (`WORKER_CONCURRENCY`), each with its own batch in flight.
    lanes: Vec<Lane>,
    /// Folds the lanes' stored counts into the aggregate tables.
    aggregator: Aggregator,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let layout = settings.layout();
        let streams = layout.streams();
        let consumers = settings.consumers();
        // One connection per lane at least, so no lane waits for another's.
        let lane_count = u32::try_from(streams.len() * consumers.len()).unwrap_or(u32::MAX);
        let connections = settings.db_connections.max(lane_count);
        if connections > settings.db_connections {
            tracing::info!(
                configured = settings.db_connections,
                connections,
                "WORKER_DB_CONNECTIONS raised to one per lane (shards × concurrency)"
            );
        }
        let db = storage::connect_url(&settings.database_url, "DATABASE_URL", connections).await?;
        let redis = Redis::new(&settings.redis)?;
        redis.check_topology().await?;
        // Before the lanes start: each measures its backlog as it starts.
        let metrics = web::Data::new(service_runtime::metrics::install());
        service_runtime::metrics::register(service_runtime::metrics::HTTP_METRICS);
        service_runtime::metrics::register(crate::processor::METRICS);
        service_runtime::metrics::register(crate::aggregator::METRICS);
        let aggregator = Aggregator::new(db.clone(), settings.fold_interval());
        let mut lanes = Vec::new();
        // Consumer names repeat across shards: each shard has its own group.
        for names in consumers
            .iter()
            .flat_map(|consumer| settings.shard_names(consumer))
        {
            let options = LaneOptions {
                names,
                batch_size: settings.clicks_batch_size as usize,
                block: settings.block(),
                claim_idle: settings.claim_idle(),
                max_deliveries: settings.max_deliveries,
                retention_days: settings.clicks_retention_days,
            };
            let lane = Lane::start(options, redis.clone(), db.clone(), shutdown.clone())
                .await
                .with_context(|| {
                    format!(
                        "cannot join the consumer group on REDIS_URL ({})",
                        redis.redacted_url()
                    )
                })?;
            lanes.push(lane.notify_when_caught_up(aggregator.waker()));
        }
        let health_state = web::Data::new(HealthState {
            redis: redis.shared(service_runtime::health::CHECK_TIMEOUT)?,
            db,
            progress: lanes.iter().map(Lane::progress).collect(),
        });
        let listener = TcpListener::bind(settings.worker_bind)
            .with_context(|| format!("cannot listen on WORKER_BIND={}", settings.worker_bind))?;
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
                .service(routes::get("/metrics", service_runtime::metrics::endpoint))
                .app_data(health_state.clone())
                .service(routes::get("/api/health", health::health))
                .service(routes::get("/livez", health::livez))
                .service(routes::get("/readyz", health::readyz))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .workers(1)
        .disable_signals()
        .run();
        tracing::info!(
            port,
            ?streams,
            group = %settings.group,
            ?consumers,
            "worker started"
        );
        Ok(Self {
            port,
            server,
            lanes,
            aggregator,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Processes batches until shutdown; each lane finishes the batch in
    /// hand, then the aggregator folds what the lanes stored.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let stop_aggregator = self.aggregator.stopper();
        let aggregator = tokio::spawn(self.aggregator.run());
        let results = futures_util::future::join_all(self.lanes.into_iter().map(Lane::run)).await;
        stop_aggregator.cancel();
        aggregator.await?;
        self.shutdown.cancel();
        handle.stop(true).await;
        server.await??;
        results
            .into_iter()
            .collect::<anyhow::Result<Vec<()>>>()
            .map(drop)
    }
}
