//! What a load run counts: latencies in an HDR histogram, answers by status,
//! accepted clicks, transport errors.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes.
const HIGHEST_MICROS: u64 = 600_000_000;

#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).unwrap_or_else(|_| unreachable!()))
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.clamp(1, HIGHEST_MICROS));
    }

    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn quantile(&self, q: f64) -> Option<Duration> {
        (!self.0.is_empty()).then(|| Duration::from_micros(self.0.value_at_quantile(q)))
    }

    pub fn max(&self) -> Option<Duration> {
        (!self.0.is_empty()).then(|| Duration::from_micros(self.0.max()))
    }

    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        json!({
            "count": self.len(),
            "p50_ms": ms(self.quantile(0.50)),
            "p99_ms": ms(self.quantile(0.99)),
            "max_ms": ms(self.max()),
        })
    }
}

/// Counts of one connection or of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Latencies of the measured requests (after the warm-up).
    pub latencies: Latencies,
    /// Measured requests that got an answer.
    pub measured_requests: u64,
    /// Clicks accepted by the measured requests.
    pub measured_clicks: u64,
    /// Every request sent, warm-up included.
    pub sent_requests: u64,
    /// Every click accepted (202, `processed` of a batch), warm-up included:
    /// that many entries are in the stream.
    pub accepted_clicks: u64,
    /// Clicks a 202 batch answer reported as `failed`.
    pub failed_clicks: u64,
    /// Answers other than 202, by status.
    pub non_accepted: BTreeMap<u16, u64>,
    /// Requests without an answer (connection errors, timeouts).
    pub errors: u64,
}

impl Tally {
    pub fn merge(&mut self, other: &Self) {
        self.latencies.merge(&other.latencies);
        self.measured_requests += other.measured_requests;
        self.measured_clicks += other.measured_clicks;
        self.sent_requests += other.sent_requests;
        self.accepted_clicks += other.accepted_clicks;
        self.failed_clicks += other.failed_clicks;
        for (status, count) in &other.non_accepted {
            *self.non_accepted.entry(*status).or_default() += count;
        }
        self.errors += other.errors;
    }

    pub fn non_accepted_total(&self) -> u64 {
        self.non_accepted.values().sum()
    }

    /// `0`, or e.g. `503×12, errors×1`.
    pub fn failures_text(&self) -> String {
        let mut parts: Vec<String> = self
            .non_accepted
            .iter()
            .map(|(status, count)| format!("{status}×{count}"))
            .collect();
        if self.errors > 0 {
            parts.push(format!("errors×{}", self.errors));
        }
        if parts.is_empty() {
            "0".to_owned()
        } else {
            parts.join(", ")
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let statuses: BTreeMap<String, u64> = self
            .non_accepted
            .iter()
            .map(|(s, c)| (s.to_string(), *c))
            .collect();
        json!({
            "latency": self.latencies.to_json(),
            "measured_requests": self.measured_requests,
            "measured_clicks": self.measured_clicks,
            "sent_requests": self.sent_requests,
            "accepted_clicks": self.accepted_clicks,
            "failed_clicks": self.failed_clicks,
            "non_202": statuses,
            "errors": self.errors,
        })
    }
}

/// The result of one load run.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    pub tally: Tally,
    /// From the end of the warm-up to the last answer.
    pub measured: Duration,
    /// CPU time spent from just before the load (warm-up included) to just after it.
    pub cpu: Option<crate::cpu::Cpu>,
}

impl LoadOutcome {
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.tally.measured_requests, self.measured)
    }

    pub fn clicks_per_second(&self) -> f64 {
        per_second(self.tally.measured_clicks, self.measured)
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// `1.23 ms`, `45.6 ms`, `1.20 s`, or `-`.
pub fn fmt_latency(latency: Option<Duration>) -> String {
    match latency {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_millis(10) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
        Some(d) if d < Duration::from_secs(1) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

/// `12 345`-style grouping is hard to read in Markdown; plain rounding instead.
pub fn fmt_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_merging() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for ms in 1..=50 {
            a.record(Duration::from_millis(ms));
        }
        for ms in 51..=100 {
            b.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        assert_eq!(a.len(), 100);
        let p50 = a.quantile(0.5).expect("p50");
        assert!(
            p50 >= Duration::from_millis(49) && p50 <= Duration::from_millis(51),
            "{p50:?}"
        );
        let max = a.max().expect("max");
        assert!(max >= Duration::from_millis(99), "{max:?}");
        assert_eq!(Latencies::default().quantile(0.5), None);
    }

    #[test]
    fn tallies_merge_and_describe_failures() {
        let mut a = Tally::default();
        a.non_accepted.insert(503, 2);
        let mut b = Tally {
            errors: 1,
            accepted_clicks: 5,
            ..Tally::default()
        };
        b.non_accepted.insert(503, 1);
        a.merge(&b);
        assert_eq!(a.failures_text(), "503×3, errors×1");
        assert_eq!(a.accepted_clicks, 5);
        assert_eq!(Tally::default().failures_text(), "0");
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_latency(Some(Duration::from_micros(1234))), "1.23 ms");
        assert_eq!(fmt_latency(Some(Duration::from_millis(45))), "45.0 ms");
        assert_eq!(fmt_latency(Some(Duration::from_millis(1200))), "1.20 s");
        assert_eq!(fmt_latency(None), "-");
        assert_eq!(fmt_rate(12345.6), "12346");
        assert_eq!(per_second(10, Duration::from_secs(2)), 5.0);
    }
}
