//! `--compare-replica-ack`: single clicks on the cluster at the fixed rate
//! `--ack-rate`, with ingest's `REDIS_MIN_REPLICAS_ACK` at 0 and then at 1
//! (ingest restarted in between, same stream), to see what waiting for a
//! replica's `WAIT` adds to the p99 of a load the service carries. (At
//! saturation the p99 is queueing, and measures throughput instead.)

use crate::harness::{Harness, note};
use crate::report::Row;
use crate::scenarios::webhooks;

/// The settings compared, in the order they run.
pub const ACKS: [u32; 2] = [0, 1];

/// One row per setting of [`ACKS`], with the setting.
pub async fn run(h: &mut Harness) -> anyhow::Result<Vec<(u32, Row)>> {
    let mut rows = Vec::with_capacity(ACKS.len());
    for ack in ACKS {
        h.restart_ingest(ack).await?;
        let scenario = format!("single, REDIS_MIN_REPLICAS_ACK {ack}");
        note(format!("scenario {scenario}"));
        let row =
            webhooks::single_paced_as(h, &scenario, &format!("a{ack}-"), h.args.ack_rate).await?;
        note(format!(
            "{}: {} ({} / {})",
            row.scenario, row.result, row.p50, row.p99
        ));
        rows.push((ack, row));
    }
    Ok(rows)
}
