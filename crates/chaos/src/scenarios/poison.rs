//! Scenario 6: Poison entries written straight into the stream among the clicks
//! (ingest would never accept them): missing fields, a bad offer, bytes that
//! are not UTF-8, a click_id too long. Each must end in the dead-letter
//! stream; every click around them must still be stored.

use std::time::Duration;

use super::{Outcome, Scene};

pub async fn run(scene: &mut Scene<'_>) -> anyhow::Result<Outcome> {
    scene.start_system(3).await?;
    let plan = scene.traffic();
    let load = scene.start_load(plan);
    let entries = scene.plan.poison_entries.max(1);
    let every = scene.plan.poison_for / entries;
    let mut outcome = Outcome::default();
    for index in 0..entries {
        scene.hold(every.max(Duration::from_millis(1))).await?;
        let fields = poison(index);
        let borrowed: Vec<(&str, &[u8])> = fields
            .iter()
            .map(|(field, value)| (*field, value.as_slice()))
            .collect();
        outcome.poison.push(scene.queue.add_raw(&borrowed).await?);
    }
    scene.hold(scene.plan.poison_for / 4).await?;
    outcome.tally = load.stop().await?;
    Ok(outcome)
}

/// The `index`th poison entry; the kinds take turns.
fn poison(index: u32) -> Vec<(&'static str, Vec<u8>)> {
    let valid = |offer: &str, source: Vec<u8>, click_id: String| {
        vec![
            ("click_id", click_id.into_bytes()),
            ("offer_id", offer.as_bytes().to_vec()),
            ("source", source),
            ("timestamp", b"2025-06-10T12:00:00.000000Z".to_vec()),
            ("signature", b"poison".to_vec()),
            ("received_at", b"2025-06-10T12:00:01.000000Z".to_vec()),
        ]
    };
    let id = format!("poison-{index}");
    match index % 5 {
        0 => vec![("click_id", id.into_bytes())],
        1 => valid("-5", b"net".to_vec(), id),
        2 => valid("7", vec![0xff, 0xfe, b'x'], id),
        3 => valid("7", b"net".to_vec(), "x".repeat(300)),
        _ => vec![("garbage", vec![0, 1, 2, 3])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_poison_entry_decodes() {
        for index in 0..10 {
            let fields = poison(index);
            assert!(
                domain::stream_entry::decode_entry(&fields).is_err(),
                "poison {index} decodes"
            );
        }
    }
}
