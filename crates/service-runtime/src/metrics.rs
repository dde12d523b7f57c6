//! Prometheus metrics: one recorder per process, `GET /metrics` in the text
//! format, and a middleware counting every HTTP request by route and status
//! with a latency histogram.
//!
//! Names are constants next to the code that records them; every histogram
//! of seconds shares [`LATENCY_BUCKETS`]. Every binary also exports the
//! process's own figures, read from `/proc` at each scrape
//! (`metrics-process`): `process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_threads`, …

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// CPU seconds (user + system) of the process, from `/proc`.
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
/// Resident memory of the process, from `/proc`.
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";

/// Buckets of every `*_seconds` histogram: 100 µs to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Records the process's CPU, memory, descriptors and threads now.
fn collect_process() {
    PROCESS
        .get_or_init(|| {
            let collector = metrics_process::Collector::default();
            collector.describe();
            collector
        })
        .collect();
}

/// Installs the process's recorder once and returns its handle (later calls,
/// e.g. several apps in one test process, share it).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder);
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    // Another recorder may already be installed (tests): then
                    // this handle renders what this recorder saw, i.e. nothing.
                    let _ = metrics::set_global_recorder(recorder);
                    collect_process();
                    spawn_upkeep(handle.clone());
                    handle
                }
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Histograms are folded into their buckets by an upkeep task.
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(5));
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// `GET /metrics`.
pub async fn endpoint(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    collect_process();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

/// Middleware: counts requests by route pattern (not raw path, so ids in
/// paths do not explode the label set), method and status.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.call(request).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// What a metric is, for [`register`]: its kind, name and `# HELP` text, and
/// optionally a label with every value it takes.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    kind: Kind,
    name: &'static str,
    help: &'static str,
    label: Option<(&'static str, &'static [&'static str])>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Histogram,
    /// Described only: a gauge has no truthful value before it is measured.
    Gauge,
}

impl Metric {
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Counter,
            name,
            help,
            label: None,
        }
    }

    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Histogram,
            name,
            help,
            label: None,
        }
    }

    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            kind: Kind::Gauge,
            name,
            help,
            label: None,
        }
    }

    /// One series per value of `label`, each created at zero.
    pub const fn by(self, label: &'static str, values: &'static [&'static str]) -> Self {
        Self {
            label: Some((label, values)),
            ..self
        }
    }
}

/// Describes every metric and creates its counters and histograms at zero,
/// so the first scrape of `/metrics` lists them with their help text and an
/// alert on `rate(…)` has a series from the start, not from the first event.
pub fn register(metrics: &[Metric]) {
    for metric in metrics {
        let (name, help) = (metric.name, metric.help);
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
        }
        let label_sets: Vec<Vec<metrics::Label>> = match metric.label {
            None => vec![Vec::new()],
            Some((label, values)) => values
                .iter()
                .map(|value| vec![metrics::Label::new(label, *value)])
                .collect(),
        };
        for labels in label_sets {
            match metric.kind {
                Kind::Counter => metrics::counter!(name, labels).increment(0),
                // Registered without a sample: rendered with zero counts.
                Kind::Histogram => drop(metrics::histogram!(name, labels)),
                Kind::Gauge => {}
            }
        }
    }
}

/// The metrics of this module's middleware, for [`register`].
pub const HTTP_METRICS: &[Metric] = &[
    Metric::counter(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by route, method and status.",
    ),
    Metric::histogram(
        HTTP_REQUEST_DURATION_SECONDS,
        "Time to answer an HTTP request, by route.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_render_at_zero_with_their_help() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            register(&[
                Metric::counter("things_total", "Things done."),
                Metric::counter("outcomes_total", "Runs by outcome.")
                    .by("outcome", &["ok", "failed"]),
                Metric::histogram("thing_seconds", "Time per thing."),
                Metric::gauge("thing_lag", "Things behind."),
            ]);
        });
        handle.run_upkeep();
        let text = handle.render();
        for line in [
            "# HELP things_total Things done.",
            "things_total 0",
            "outcomes_total{outcome=\"ok\"} 0",
            "outcomes_total{outcome=\"failed\"} 0",
            "# HELP thing_seconds Time per thing.",
            "thing_seconds_count 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("thing_lag "), "{text}");
    }
}
