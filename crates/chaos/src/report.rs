//! The table the suite prints: one row per scenario, then the details that
//! explain each row.

use std::fmt::Write;
use std::time::Duration;

/// One scenario's result.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub number: u8,
    pub title: String,
    /// Click copies in requests (resends and retries included).
    pub clicks_sent: u64,
    /// Click copies in requests answered 2xx.
    pub clicks_2xx: u64,
    /// Rows in `clicks`.
    pub stored: u64,
    /// Copies answered 2xx beyond the first of each `click_id`: what the
    /// workers had to recognise and drop.
    pub duplicates_dropped: u64,
    /// Clicks answered 2xx and not stored, plus clicks stored but missing
    /// from an aggregate (in the worst of the four tables).
    pub lost: u64,
    /// Rows stored twice, plus clicks counted twice in an aggregate (in the
    /// worst of the four tables).
    pub double_counted: u64,
    /// Each fault's recovery: from the fault's end until ingest answered 2xx
    /// again and every entry enqueued before it was acknowledged.
    pub recoveries: Vec<Duration>,
    /// Why the scenario failed (empty: it passed).
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Row {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn recovery(&self) -> String {
        match self.recoveries.iter().max() {
            None => "—".to_owned(),
            Some(worst) if self.recoveries.len() == 1 => seconds(*worst),
            Some(worst) => format!("{} (worst of {})", seconds(*worst), self.recoveries.len()),
        }
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The Markdown table, then a line of details per scenario.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | clicks sent | 2xx | stored | duplicates dropped | lost | double counted | recovery |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {}. {}{} | {} | {} | {} | {} | {} | {} | {} |",
            row.number,
            row.title,
            if row.passed() { "" } else { " **FAILED**" },
            row.clicks_sent,
            row.clicks_2xx,
            row.stored,
            row.duplicates_dropped,
            row.lost,
            row.double_counted,
            row.recovery(),
        );
    }
    out.push('\n');
    for row in rows {
        for note in &row.notes {
            let _ = writeln!(out, "- {}: {note}", row.number);
        }
        for failure in &row.failures {
            let _ = writeln!(out, "- {}: FAILED: {failure}", row.number);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_with_the_worst_recovery_and_failures_marked() {
        let rows = vec![
            Row {
                number: 1,
                title: "worker kill -9".to_owned(),
                clicks_sent: 120,
                clicks_2xx: 110,
                stored: 100,
                duplicates_dropped: 10,
                recoveries: vec![Duration::from_millis(1500), Duration::from_millis(300)],
                notes: vec!["6 kills".to_owned()],
                ..Row::default()
            },
            Row {
                number: 6,
                title: "poison".to_owned(),
                lost: 2,
                failures: vec!["2 clicks answered 2xx are not stored".to_owned()],
                ..Row::default()
            },
        ];
        let table = render(&rows);
        assert!(
            table.contains(
                "| 1. worker kill -9 | 120 | 110 | 100 | 10 | 0 | 0 | 1.5 s (worst of 2) |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| 6. poison **FAILED** | 0 | 0 | 0 | 0 | 2 | 0 | — |"),
            "{table}"
        );
        assert!(table.contains("- 1: 6 kills"));
        assert!(table.contains("- 6: FAILED: 2 clicks"));
    }
}
