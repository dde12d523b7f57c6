//! Table rows for load results.

use serde_json::json;

use crate::client::Shape;
use crate::report::{Figure, Row};
use crate::stats::{LoadOutcome, fmt_latency, fmt_rate};

/// A row for a load run: requests/s for singles, clicks/s for batches.
pub fn load_row(scenario: &str, outcome: &LoadOutcome, shape: Shape, setup: &str) -> Row {
    let tally = &outcome.tally;
    let latencies = &tally.latencies;
    let (rate, unit) = match shape {
        Shape::Single => (outcome.requests_per_second(), "req/s"),
        Shape::Batch(_) => (outcome.clicks_per_second(), "clicks/s"),
    };
    let result = format!("{} {unit}", fmt_rate(rate));
    let figure = Figure {
        rate,
        unit,
        p99_ms: latencies
            .quantile(0.99)
            .map(|p99| p99.as_secs_f64() * 1000.0),
    };
    let mut notes = format!(
        "{setup}; {} requests in {:.1} s; max {}; non-202: {}",
        tally.measured_requests,
        outcome.measured.as_secs_f64(),
        fmt_latency(latencies.max()),
        tally.failures_text()
    );
    if let Shape::Batch(size) = shape {
        notes.push_str(&format!(
            "; {:.1} batches/s of {size}",
            outcome.requests_per_second()
        ));
    }
    if tally.failed_clicks > 0 {
        notes.push_str(&format!(
            "; {} clicks refused in 202 batches",
            tally.failed_clicks
        ));
    }
    // The CPU readings bracket the warm-up too, so they are divided by every
    // accepted click.
    let cpu = outcome.cpu.unwrap_or_default();
    if let Some(text) = cpu.per_click_text(tally.accepted_clicks) {
        notes.push_str(&format!("; {text}"));
    }
    Row::new(scenario, result)
        .latencies(
            fmt_latency(latencies.quantile(0.50)),
            fmt_latency(latencies.quantile(0.99)),
        )
        .notes(notes)
        .figure(figure)
        .json(json!({
            "requests_per_s": outcome.requests_per_second(),
            "clicks_per_s": outcome.clicks_per_second(),
            "measured_s": outcome.measured.as_secs_f64(),
            "tally": tally.to_json(),
            "cpu_per_click": outcome.cpu.map(|cpu| cpu.per_click_json(tally.accepted_clicks)),
        }))
}
