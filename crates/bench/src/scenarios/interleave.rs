//! `--interleave SLICE`: single clicks and batches on both topologies at
//! once. Standalone Redis and the private cluster each get their own ingest,
//! stream and database, both running from start to end, and the load
//! switches between them every SLICE: standalone first in odd slices, the
//! cluster first in even ones. Each pair of slices is a round of the median
//! table, so a slow spell of this shared machine, which lasts seconds to
//! minutes, weighs on both sides of a ratio instead of on one topology's
//! whole run. The usual tables show each topology's slices together.

use std::time::Duration;

use tokio::time::Instant;

use super::webhooks::{Load, finish};
use super::{bounded, name, print_round, problems_of};
use crate::cli::{RunArgs, Scenario};
use crate::compare::{self, TopologyRun};
use crate::harness::{Harness, note};
use crate::load::ClosedLoop;
use crate::report::Row;
use crate::rows::load_row;
use crate::stats::LoadOutcome;
use crate::topology::{Plan, Topology, start_cluster};

/// Left out of the figures at the start of every slice after the first
/// (which has `--warmup`): the connections to the other ingest are new.
const SLICE_WARMUP: Duration = Duration::from_millis(250);

/// The scenarios an interleaved run can measure: loads without a worker.
pub const INTERLEAVED: [Scenario; 2] = [Scenario::Single, Scenario::Batch];

/// Runs the interleaved plan; returns the problems of both topologies.
pub async fn run(
    args: &RunArgs,
    plan: &Plan,
    slice: Duration,
    deadline: Instant,
) -> anyhow::Result<Vec<String>> {
    let limit = args.time_limit;
    let cluster = bounded(
        deadline,
        limit,
        start_cluster(args.cluster_persistence, &args.redis_url),
    )
    .await?;
    let standalone = plan.target(
        Topology::Standalone,
        args.redis_url.clone(),
        args.redis_mode,
    );
    let clustered = plan.target(Topology::Cluster, cluster.url(), args.redis_mode);
    let mut harnesses = [
        Harness::new(args.clone(), standalone),
        Harness::new(args.clone(), clustered),
    ];
    for h in &harnesses {
        note(format!("run {} on {}", h.run_id, h.redis.describe()));
    }
    let outcome = bounded(deadline, limit, measure(&mut harnesses, slice)).await;
    let mut runs = Vec::with_capacity(harnesses.len());
    let mut problems = Vec::new();
    for h in &mut harnesses {
        let persistence = h.persistence().await;
        h.cleanup(outcome.is_err()).await;
        problems.extend(problems_of(h));
        runs.push(run_of(h, persistence));
    }
    // Dropping the cluster kills its six nodes.
    drop(cluster);
    let (rows, slices) = outcome?;
    for (run, rows) in runs.iter_mut().zip(rows) {
        run.rows = rows;
    }
    print_round(&runs, args.common.json);
    print!(
        "{}",
        compare::medians(&slices, compare::Rounds::Slices(slice), args.common.json)
    );
    Ok(problems)
}

/// Each topology's rows (its slices together), and every slice pair as a
/// round of one row per topology.
type Measured = ([Vec<Row>; 2], Vec<Vec<TopologyRun>>);

/// `h`'s run, with no rows yet.
fn run_of(h: &Harness, persistence: String) -> TopologyRun {
    TopologyRun {
        redis: h.redis.clone(),
        run_id: h.run_id.clone(),
        rows: Vec::new(),
        replica_acks: Vec::new(),
        persistence,
    }
}

async fn measure(harnesses: &mut [Harness; 2], slice: Duration) -> anyhow::Result<Measured> {
    for h in harnesses.iter_mut() {
        h.setup().await?;
    }
    let mut rows: [Vec<_>; 2] = Default::default();
    // Slice pair i of every scenario: one round of the median table.
    let mut pairs: Vec<[TopologyRun; 2]> = Vec::new();
    for scenario in INTERLEAVED {
        if !harnesses[0].args.scenarios.contains(&scenario) {
            continue;
        }
        let scenario_name = name(scenario);
        note(format!(
            "scenario {scenario_name}, interleaved every {slice:?}"
        ));
        let loads = harnesses.each_ref().map(|h| match scenario {
            Scenario::Batch => Load::batch(h),
            _ => Load::single(h),
        });
        let slices = slices_of(loads[0].plan.duration, slice);
        let mut totals: [Option<LoadOutcome>; 2] = [None, None];
        for index in 0..slices {
            if pairs.len() <= index as usize {
                pairs.push(harnesses.each_ref().map(|h| run_of(h, String::new())));
            }
            for side in order(index) {
                let (h, load) = (&mut harnesses[side], loads[side]);
                let plan = slice_plan(load.plan, slices, index, slice);
                let tag = format!("{}{index}", &scenario_name[..1]);
                let outcome = load.send(h, &tag, plan).await?;
                let row = load_row(scenario_name, &outcome, plan.shape, "slice");
                pairs[index as usize][side].rows.push(row);
                merge(&mut totals[side], outcome);
            }
        }
        for (side, total) in totals.into_iter().enumerate() {
            let Some(total) = total else { continue };
            let h = &mut harnesses[side];
            let setup = format!(
                "{}; {slices} slices of {slice:?}, interleaved",
                loads[side].setup()
            );
            let shape = loads[side].plan.shape;
            rows[side].push(finish(h, scenario_name, total, shape, &setup).await?);
        }
    }
    Ok((rows, pairs.into_iter().map(Vec::from).collect()))
}

/// Which side goes first in slice pair `index` (from 0): standalone (0) in
/// odd pairs counted from 1, the cluster (1) in even ones.
fn order(index: u32) -> [usize; 2] {
    if index.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// How many slices of `slice` make up `total` (at least one).
fn slices_of(total: Duration, slice: Duration) -> u32 {
    let count = total.as_secs_f64() / slice.as_secs_f64().max(0.001);
    (count.ceil() as u32).max(1)
}

/// Slice `index` of `plan`'s measured time and requests; only the first
/// slice has the plan's own warm-up.
fn slice_plan(plan: ClosedLoop, slices: u32, index: u32, slice: Duration) -> ClosedLoop {
    ClosedLoop {
        max_requests: plan.max_requests.div_ceil(u64::from(slices)),
        warmup: if index == 0 {
            plan.warmup
        } else {
            SLICE_WARMUP
        },
        duration: slice,
        ..plan
    }
}

/// Adds a slice's outcome to a topology's total.
fn merge(total: &mut Option<LoadOutcome>, slice: LoadOutcome) {
    match total {
        Some(total) => {
            total.tally.merge(&slice.tally);
            total.measured += slice.measured;
            if let (Some(spent), Some(more)) = (&mut total.cpu, &slice.cpu) {
                spent.add(more);
            }
        }
        None => *total = Some(slice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Shape;

    #[test]
    fn slices_share_the_duration_and_the_request_cap() {
        assert_eq!(
            slices_of(Duration::from_secs(10), Duration::from_secs(1)),
            10
        );
        assert_eq!(
            slices_of(Duration::from_millis(2500), Duration::from_secs(1)),
            3
        );
        assert_eq!(
            slices_of(Duration::from_millis(300), Duration::from_secs(1)),
            1
        );
        let plan = ClosedLoop {
            shape: Shape::Single,
            max_requests: 200_001,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
        };
        let first = slice_plan(plan, 10, 0, Duration::from_secs(1));
        assert_eq!(first.max_requests, 20_001);
        assert_eq!(first.warmup, Duration::from_secs(1));
        assert_eq!(first.duration, Duration::from_secs(1));
        let later = slice_plan(plan, 10, 3, Duration::from_secs(1));
        assert_eq!(later.warmup, SLICE_WARMUP);
        assert_eq!(later.shape, Shape::Single);
    }

    #[test]
    fn the_topologies_take_turns_going_first() {
        assert_eq!(order(0), [0, 1], "pair 1: standalone first");
        assert_eq!(order(1), [1, 0], "pair 2: the cluster first");
        assert_eq!(order(2), [0, 1]);
    }
}
