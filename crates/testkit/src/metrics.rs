//! Reading `GET /metrics` (Prometheus text format) in tests.
//!
//! Every app in a test process shares one recorder, and other tests may run
//! in the same process: compare a value before and after, never absolutely.

/// `GET url` as text.
pub async fn scrape(url: &str) -> String {
    reqwest::get(url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|error| panic!("GET {url}: {error}"))
        .text()
        .await
        .expect("metrics text")
}

/// The sum over the series of metric `name` that carry every `labels` pair
/// (all of its series when `labels` is empty); 0 when there is none.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(label, value)| line.contains(&format!("{label}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_picked_by_name_and_labels() {
        let text = "# TYPE runs_total counter\n\
                    runs_total{outcome=\"completed\"} 3\n\
                    runs_total{outcome=\"failed\"} 1\n\
                    runs_total_other 7\n\
                    chunks_total 5\n";
        assert_eq!(metric(text, "runs_total", &[]), 4.0);
        assert_eq!(metric(text, "runs_total", &[("outcome", "failed")]), 1.0);
        assert_eq!(metric(text, "chunks_total", &[]), 5.0);
        assert_eq!(metric(text, "missing_total", &[]), 0.0);
    }
}
