//! The final Markdown table, the machine it ran on, and the JSON lines.

use std::process::Command;

use serde_json::json;

/// One line of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub result: String,
    pub p50: String,
    pub p99: String,
    pub notes: String,
    /// Everything measured, for `--json`.
    pub json: serde_json::Value,
    /// The headline figure as a number, for comparing two runs.
    pub figure: Option<Figure>,
}

/// A throughput and its p99, as numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub rate: f64,
    /// `req/s` or `clicks/s`.
    pub unit: &'static str,
    pub p99_ms: Option<f64>,
}

impl Row {
    pub fn new(scenario: impl Into<String>, result: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            result: result.into(),
            p50: "-".to_owned(),
            p99: "-".to_owned(),
            notes: String::new(),
            json: json!({}),
            figure: None,
        }
    }

    pub fn figure(mut self, figure: Figure) -> Self {
        self.figure = Some(figure);
        self
    }

    pub fn latencies(mut self, p50: String, p99: String) -> Self {
        self.p50 = p50;
        self.p99 = p99;
        self
    }

    pub fn notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = notes.into();
        self
    }

    pub fn json(mut self, json: serde_json::Value) -> Self {
        self.json = json;
        self
    }
}

/// Where the figures come from.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub commit: String,
}

impl Machine {
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        Self {
            cores,
            cpu,
            commit: git_commit(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({"nproc": self.cores, "cpu": self.cpu, "commit": self.commit})
    }
}

fn git_commit() -> String {
    let output = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match output(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = output(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        _ => "unknown".to_owned(),
    }
}

/// The table, the machine line, and with `json` one JSON line per row.
pub fn render(rows: &[Row], machine: &Machine, run_id: &str, json: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\nclicks-bench run {run_id}: {}, nproc {}, commit {}\n\n",
        machine.cpu, machine.cores, machine.commit
    ));
    out.push_str("| scenario | result | p50 | p99 | notes |\n");
    out.push_str("|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(&row.scenario),
            cell(&row.result),
            cell(&row.p50),
            cell(&row.p99),
            cell(&row.notes)
        ));
    }
    if json {
        out.push('\n');
        for row in rows {
            let line = json!({
                "scenario": row.scenario,
                "run": run_id,
                "machine": machine.to_json(),
                "result": row.result,
                "p50": row.p50,
                "p99": row.p99,
                "notes": row.notes,
                "data": row.json,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table_and_json_lines() {
        let machine = Machine {
            cores: 2,
            cpu: "Test CPU".to_owned(),
            commit: "abc".to_owned(),
        };
        let rows = vec![
            Row::new("single", "123 req/s")
                .latencies("1 ms".to_owned(), "2 ms".to_owned())
                .notes("a|b")
                .json(json!({"rps": 123})),
        ];
        let text = render(&rows, &machine, "r1", true);
        assert!(
            text.contains("| single | 123 req/s | 1 ms | 2 ms | a\\|b |"),
            "{text}"
        );
        assert!(text.contains("commit abc"));
        let line = text.lines().last().expect("json line");
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(value["scenario"], "single");
        assert_eq!(value["data"]["rps"], 123);
        assert!(!render(&rows, &machine, "r1", false).contains("\"scenario\""));
    }

    #[test]
    fn detects_the_machine() {
        let machine = Machine::detect();
        assert!(machine.cores >= 1);
        assert!(!machine.cpu.is_empty());
    }
}
