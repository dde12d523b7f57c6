//! Table rows for load results.

use serde_json::json;

use crate::client::Shape;
use crate::report::Row;
use crate::stats::{LoadOutcome, fmt_latency, fmt_rate};

/// A row for a load run: requests/s for singles, clicks/s for batches.
pub fn load_row(scenario: &str, outcome: &LoadOutcome, shape: Shape, setup: &str) -> Row {
    let tally = &outcome.tally;
    let latencies = &tally.latencies;
    let result = match shape {
        Shape::Single => format!("{} req/s", fmt_rate(outcome.requests_per_second())),
        Shape::Batch(_) => format!("{} clicks/s", fmt_rate(outcome.clicks_per_second())),
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
    Row::new(scenario, result)
        .latencies(
            fmt_latency(latencies.quantile(0.50)),
            fmt_latency(latencies.quantile(0.99)),
        )
        .notes(notes)
        .json(json!({
            "requests_per_s": outcome.requests_per_second(),
            "clicks_per_s": outcome.clicks_per_second(),
            "measured_s": outcome.measured.as_secs_f64(),
            "tally": tally.to_json(),
        }))
}
