//! Side by side: the same scenarios on standalone Redis and on the cluster,
//! with the ratio cluster/standalone against the target, and what a replica
//! acknowledgement costs the single-click p99.

use serde_json::json;

use crate::report::{Figure, Row};
use crate::stats::fmt_rate;
use crate::topology::{CLUSTER_MASTERS, RedisTarget, Topology};

/// The cluster may cost at most this share of standalone throughput.
pub const MAX_CLUSTER_COST: f64 = 0.15;
/// Waiting for one replica may add at most this to the single-click p99.
pub const MAX_REPLICA_ACK_P99_MS: f64 = 2.0;

/// What one topology's run printed.
#[derive(Debug, Clone)]
pub struct TopologyRun {
    pub redis: RedisTarget,
    pub run_id: String,
    pub rows: Vec<Row>,
    /// `--compare-replica-ack`: the single-click rows by `REDIS_MIN_REPLICAS_ACK`.
    pub replica_acks: Vec<(u32, Row)>,
    /// How the Redis persists writes, as it says itself.
    pub persistence: String,
}

/// The comparison of a standalone and a cluster run (when both ran) and the
/// replica acknowledgement summary of every run that measured it.
pub fn render(runs: &[TopologyRun], json: bool) -> String {
    let mut out = String::new();
    let standalone = runs
        .iter()
        .find(|run| run.redis.topology == Topology::Standalone);
    let cluster = runs
        .iter()
        .find(|run| run.redis.topology == Topology::Cluster);
    if let (Some(standalone), Some(cluster)) = (standalone, cluster) {
        out.push_str(&side_by_side(standalone, cluster, json));
    }
    for run in runs.iter().filter(|run| !run.replica_acks.is_empty()) {
        out.push_str(&replica_acks(run, json));
    }
    out
}

fn side_by_side(standalone: &TopologyRun, cluster: &TopologyRun, json: bool) -> String {
    let shards = cluster.redis.shards;
    let mut out = format!(
        "\n## Standalone vs cluster\n\n\
         Both runs use CLICKS_STREAM_SHARDS {shards} ({per_master} per master of the cluster's \
         {CLUSTER_MASTERS}), so ingest writes as many pipelines per collection to either Redis \
         and the workers read as many shards: the comparison is fair. Same binaries, load, \
         counts and database server; each run has its stream and database of its own. \
         REDIS_MIN_REPLICAS_ACK: standalone {}, cluster {}. Persistence: standalone {}; \
         cluster nodes {}. The cluster's 6 redis-server processes share this machine's cores \
         with ingest, the workers, MariaDB and the load generator.\n\n",
        standalone.redis.min_replicas_ack,
        cluster.redis.min_replicas_ack,
        standalone.persistence,
        cluster.persistence,
        per_master = f64::from(shards) / f64::from(CLUSTER_MASTERS),
    );
    out.push_str(
        "| scenario | standalone | cluster | cluster/standalone | target (cost ≤ 15%) | p99 standalone | p99 cluster |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    let mut lines = Vec::new();
    for (scenario, alone, other) in pairs(standalone, cluster) {
        let ratio = ratio_of(alone, other);
        let ratio_text = ratio.map_or_else(
            || "-".to_owned(),
            |ratio| format!("{ratio:.2} ({:+.1}%)", (ratio - 1.0) * 100.0),
        );
        out.push_str(&format!(
            "| {scenario} | {} | {} | {ratio_text} | {} | {} | {} |\n",
            rate_text(alone),
            rate_text(other),
            verdict(ratio),
            p99_text(alone.p99_ms),
            p99_text(other.p99_ms),
        ));
        lines.push(json!({
            "comparison": "standalone_vs_cluster",
            "scenario": scenario,
            "unit": alone.unit,
            "standalone": alone.rate,
            "cluster": other.rate,
            "ratio": ratio,
            "p99_ms_standalone": alone.p99_ms,
            "p99_ms_cluster": other.p99_ms,
            "stream_shards": shards,
            "runs": [standalone.run_id, cluster.run_id],
        }));
    }
    push_json(&mut out, &lines, json);
    out
}

/// The scenarios both runs measured: name, standalone figure, cluster figure.
fn pairs<'a>(
    standalone: &'a TopologyRun,
    cluster: &'a TopologyRun,
) -> impl Iterator<Item = (&'a str, Figure, Figure)> {
    standalone.rows.iter().filter_map(|row| {
        let alone = row.figure?;
        let other = cluster
            .rows
            .iter()
            .find(|other| other.scenario == row.scenario)
            .and_then(|other| other.figure)?;
        Some((row.scenario.as_str(), alone, other))
    })
}

/// Cluster over standalone, when standalone measured anything.
fn ratio_of(standalone: Figure, cluster: Figure) -> Option<f64> {
    (standalone.rate > 0.0).then(|| cluster.rate / standalone.rate)
}

fn verdict(ratio: Option<f64>) -> &'static str {
    match ratio {
        Some(ratio) if 1.0 - ratio <= MAX_CLUSTER_COST => "met",
        Some(_) => "MISSED",
        None => "-",
    }
}

/// What the rounds of [`medians`] are.
#[derive(Debug, Clone, Copy)]
pub enum Rounds {
    /// `--repeat`: whole runs, one after the other.
    Repeated,
    /// `--interleave`: pairs of slices of this length, both ingests running.
    Slices(std::time::Duration),
}

/// `--repeat` or `--interleave` with both topologies: each scenario's ratio
/// in every round and its median, which is what the target is judged on
/// (this machine's speed drifts; the rounds alternate which topology goes
/// first).
pub fn medians(rounds: &[Vec<TopologyRun>], kind: Rounds, json: bool) -> String {
    let pairs_of_round = |runs: &[TopologyRun]| {
        let standalone = runs
            .iter()
            .find(|run| run.redis.topology == Topology::Standalone)?;
        let cluster = runs
            .iter()
            .find(|run| run.redis.topology == Topology::Cluster)?;
        Some(
            pairs(standalone, cluster)
                .map(|(scenario, alone, other)| (scenario.to_owned(), alone, other))
                .collect::<Vec<_>>(),
        )
    };
    let rounds: Vec<_> = rounds
        .iter()
        .filter_map(|runs| pairs_of_round(runs))
        .collect();
    let Some(first) = rounds.first() else {
        return String::new();
    };
    let (rounds_are, each_is) = match kind {
        Rounds::Repeated => ("rounds".to_owned(), "round"),
        Rounds::Slices(slice) => (format!("pairs of {slice:?} slices"), "pair"),
    };
    let mut out = format!(
        "\n## Standalone vs cluster over {} {rounds_are} (medians)\n\n\
         Each {each_is} ran both topologies, standalone first in odd {each_is}s and the cluster \
         first in even ones. The target is judged on the median ratio.\n\n\
         | scenario | standalone | cluster | cluster/standalone: median (each {each_is}) | target (cost ≤ 15%) |\n\
         |---|---|---|---|---|\n",
        rounds.len()
    );
    let mut lines = Vec::new();
    for (scenario, alone, _) in first {
        let measured: Vec<(Figure, Figure)> = rounds
            .iter()
            .filter_map(|pairs| {
                pairs
                    .iter()
                    .find(|(name, _, _)| name == scenario)
                    .map(|(_, alone, other)| (*alone, *other))
            })
            .collect();
        let ratios: Vec<f64> = measured
            .iter()
            .filter_map(|(alone, other)| ratio_of(*alone, *other))
            .collect();
        let median_ratio = median(&ratios);
        let standalone_rate = median(&measured.iter().map(|(a, _)| a.rate).collect::<Vec<_>>());
        let cluster_rate = median(&measured.iter().map(|(_, c)| c.rate).collect::<Vec<_>>());
        let each: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
        out.push_str(&format!(
            "| {scenario} | {} {unit} | {} {unit} | {} ({}) | {} |\n",
            standalone_rate.map_or_else(|| "-".to_owned(), fmt_rate),
            cluster_rate.map_or_else(|| "-".to_owned(), fmt_rate),
            median_ratio.map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}")),
            each.join(" / "),
            verdict(median_ratio),
            unit = alone.unit,
        ));
        lines.push(json!({
            "comparison": "standalone_vs_cluster_medians",
            "scenario": scenario,
            "unit": alone.unit,
            "standalone": standalone_rate,
            "cluster": cluster_rate,
            "ratio": median_ratio,
            "ratios": ratios,
        }));
    }
    push_json(&mut out, &lines, json);
    out
}

/// The median (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

fn replica_acks(run: &TopologyRun, json: bool) -> String {
    let mut out = format!(
        "\n## Replica acknowledgement ({}, run {})\n\n\
         Single clicks at the fixed rate of `--ack-rate` (a load the cluster carries, so the p99 \
         is the round trip and not queueing), ingest restarted on the same stream for each setting.\n\n\
         | REDIS_MIN_REPLICAS_ACK | result | p50 | p99 |\n|---|---|---|---|\n",
        run.redis.topology.name(),
        run.run_id
    );
    for (ack, row) in &run.replica_acks {
        out.push_str(&format!(
            "| {ack} | {} | {} | {} |\n",
            row.result, row.p50, row.p99
        ));
    }
    let p99 = |wanted: u32| {
        run.replica_acks
            .iter()
            .find(|(ack, _)| *ack == wanted)
            .and_then(|(_, row)| row.figure)
            .and_then(|figure| figure.p99_ms)
    };
    let difference = p99(0).zip(p99(1)).map(|(without, with)| with - without);
    match difference {
        Some(ms) => {
            let verdict = if ms <= MAX_REPLICA_ACK_P99_MS {
                "met"
            } else {
                "MISSED"
            };
            out.push_str(&format!(
                "\nsingle-click p99 with 1 replica ack − without: {ms:+.2} ms \
                 (target: at most +{MAX_REPLICA_ACK_P99_MS} ms: {verdict})\n"
            ));
        }
        None => out.push_str("\nsingle-click p99 difference: not measured\n"),
    }
    let line = json!({
        "comparison": "replica_ack",
        "run": run.run_id,
        "topology": run.redis.topology.name(),
        "p99_ms_ack0": p99(0),
        "p99_ms_ack1": p99(1),
        "p99_difference_ms": difference,
    });
    push_json(&mut out, &[line], json);
    out
}

fn rate_text(figure: Figure) -> String {
    format!("{} {}", fmt_rate(figure.rate), figure.unit)
}

fn p99_text(p99_ms: Option<f64>) -> String {
    p99_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2} ms"))
}

fn push_json(out: &mut String, lines: &[serde_json::Value], json: bool) {
    if json {
        out.push('\n');
        for line in lines {
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(topology: Topology, ack: u32) -> RedisTarget {
        RedisTarget {
            topology,
            url: "redis://127.0.0.1:1".to_owned(),
            shards: 12,
            min_replicas_ack: ack,
        }
    }

    fn row(scenario: &str, rate: f64, unit: &'static str, p99_ms: Option<f64>) -> Row {
        Row::new(scenario, format!("{rate} {unit}")).figure(Figure { rate, unit, p99_ms })
    }

    fn run(topology: Topology, rows: Vec<Row>, replica_acks: Vec<(u32, Row)>) -> TopologyRun {
        TopologyRun {
            redis: target(topology, 0),
            run_id: topology.name().to_owned(),
            rows,
            replica_acks,
            persistence: "appendonly no".to_owned(),
        }
    }

    #[test]
    fn the_ratio_is_cluster_over_standalone_and_judged_against_the_target() {
        let standalone = run(
            Topology::Standalone,
            vec![
                row("single", 20_000.0, "req/s", Some(4.0)),
                row("batch", 400_000.0, "clicks/s", Some(20.0)),
                Row::new("rss ingest", "20 MB"),
            ],
            Vec::new(),
        );
        let cluster = run(
            Topology::Cluster,
            vec![
                row("single", 18_000.0, "req/s", Some(5.0)),
                row("batch", 200_000.0, "clicks/s", Some(40.0)),
            ],
            Vec::new(),
        );
        let text = render(&[standalone, cluster], true);
        assert!(text.contains("CLICKS_STREAM_SHARDS 12"), "{text}");
        assert!(
            text.contains(
                "| single | 20000 req/s | 18000 req/s | 0.90 (-10.0%) | met | 4.00 ms | 5.00 ms |"
            ),
            "{text}"
        );
        assert!(text.contains("| batch |"), "{text}");
        assert!(text.contains("0.50 (-50.0%) | MISSED"), "{text}");
        assert!(!text.contains("rss ingest"), "{text}");
        assert!(text.contains("\"comparison\":\"standalone_vs_cluster\""));
    }

    #[test]
    fn over_rounds_the_target_is_judged_on_the_median_ratio() {
        let round = |alone: f64, clustered: f64| {
            vec![
                run(
                    Topology::Standalone,
                    vec![row("single", alone, "req/s", Some(4.0))],
                    Vec::new(),
                ),
                run(
                    Topology::Cluster,
                    vec![row("single", clustered, "req/s", Some(5.0))],
                    Vec::new(),
                ),
            ]
        };
        // Ratios 0.95, 0.80, 0.88: median 0.88 (met), though one round missed.
        let rounds = vec![
            round(20_000.0, 19_000.0),
            round(25_000.0, 20_000.0),
            round(25_000.0, 22_000.0),
        ];
        let text = medians(&rounds, Rounds::Repeated, true);
        assert!(text.contains("over 3 rounds"), "{text}");
        assert!(
            text.contains(
                "| single | 25000 req/s | 20000 req/s | 0.88 (0.95 / 0.80 / 0.88) | met |"
            ),
            "{text}"
        );
        assert!(text.contains("\"comparison\":\"standalone_vs_cluster_medians\""));
        let sliced = medians(
            &rounds,
            Rounds::Slices(std::time::Duration::from_secs(1)),
            false,
        );
        assert!(sliced.contains("over 3 pairs of 1s slices"), "{sliced}");
        assert!(sliced.contains("median (each pair)"), "{sliced}");
        assert_eq!(median(&[1.0, 3.0, 2.0, 4.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_replica_ack_difference_is_in_ms() {
        let cluster = run(
            Topology::Cluster,
            Vec::new(),
            vec![
                (0, row("a0", 15_000.0, "req/s", Some(5.0))),
                (1, row("a1", 14_000.0, "req/s", Some(6.25))),
            ],
        );
        let text = render(&[cluster], false);
        assert!(text.contains("+1.25 ms"), "{text}");
        assert!(text.contains(": met)"), "{text}");
        assert!(!text.contains("Standalone vs cluster"), "{text}");
    }
}
