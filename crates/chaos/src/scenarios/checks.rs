//! The checks every scenario ends with: drain, then MariaDB and the
//! dead-letter stream set against the senders' ledger.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::bail;
use clickstream::EntryId;

use super::{Outcome, POLL, Scene, title};
use crate::ledger;
use crate::report::Row;
use crate::verify;

impl Scene<'_> {
    /// Waits until the workers have taken and acknowledged everything.
    async fn drain(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            self.stage.ensure_running()?;
            if self.queue.drained().await.unwrap_or(false) {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= self.plan.drain_limit {
                let groups = self.queue.groups().await;
                let newest = self.queue.mark().await;
                bail!(
                    "the workers did not drain the stream within {:?} (groups per shard: {groups:?}; newest entry per shard: {newest:?})",
                    self.plan.drain_limit
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Drained, every shard's lag should read 0. Redis estimates it (entries
    /// added minus entries read), and a failover can leave the estimate off
    /// for good; whatever reads it (ingest's backlog) then sees phantom entries.
    async fn stale_lag(&mut self) -> Option<String> {
        let groups = self.queue.groups().await.ok()?;
        let lags: Vec<u64> = groups
            .iter()
            .map(|group| group.as_ref().and_then(|group| group.lag).unwrap_or(0))
            .collect();
        let phantom: u64 = lags.iter().sum();
        (phantom > 0).then(|| {
            format!(
                "drained, yet Redis reports a lag of {phantom} entries (per shard {lags:?}): its estimate is off, and a backlog read from it counts them"
            )
        })
    }

    /// The checks every scenario ends with.
    pub(super) async fn check(&mut self, number: u8, outcome: Outcome) -> anyhow::Result<Row> {
        let Outcome {
            tally,
            recoveries,
            poison,
            mut failures,
            mut notes,
        } = outcome;
        let drained = self.drain().await?;
        if let Some(note) = self.stale_lag().await {
            notes.push(note);
        }
        // Every binary must exit 0 on SIGTERM within the grace period, after
        // all the scenario did to it.
        for trouble in self.stage.shutdown().await {
            failures.push(format!("unclean stop: {trouble}"));
        }
        let keys = verify::stored_keys(self.stage.conn(), &self.stage.names).await?;
        let audit = ledger::audit(&tally.ledger, keys);
        let aggregates = verify::aggregates(self.stage.conn()).await?;
        // A click counted twice is too many in every table: take the worst table.
        let over = aggregates.iter().map(|check| check.over).max().unwrap_or(0);
        let under = aggregates
            .iter()
            .map(|check| check.under)
            .max()
            .unwrap_or(0);
        for check in aggregates.iter().filter(|check| !check.is_exact()) {
            failures.push(format!(
                "{} differs from the count over clicks in {} group(s): {} too many, {} too few",
                check.table, check.wrong_groups, check.over, check.under
            ));
        }
        if audit.lost > 0 {
            let examples: Vec<String> = audit
                .lost_examples
                .iter()
                .map(|key| self.stage.names.click_id(*key))
                .collect();
            failures.push(format!(
                "{} click(s) answered 2xx are not stored, e.g. {}",
                audit.lost,
                examples.join(", ")
            ));
        }
        if audit.duplicate_rows > 0 {
            failures.push(format!(
                "{} duplicate row(s) in clicks",
                audit.duplicate_rows
            ));
        }
        if audit.phantom_rows > 0 {
            failures.push(format!(
                "{} row(s) in clicks that no sender sent",
                audit.phantom_rows
            ));
        }
        failures.extend(tally.batch_anomalies.iter().take(5).cloned());
        self.check_dead_letters(&poison, &mut failures, &mut notes)
            .await?;
        notes.push(format!(
            "{} requests ({} retries): {}; {} clicks answered 2xx; {} never answered 2xx: {} of them stored anyway (enqueued before the answer was lost), {} not; drained {:.1} s after the load",
            tally.requests,
            tally.retries,
            tally.answers_line(),
            audit.accepted,
            audit.unconfirmed_stored + audit.unconfirmed_absent,
            audit.unconfirmed_stored,
            audit.unconfirmed_absent,
            drained.as_secs_f64(),
        ));
        let distinct_2xx = audit.accepted;
        Ok(Row {
            number,
            title: title(number).to_owned(),
            clicks_sent: tally.clicks_sent,
            clicks_2xx: tally.clicks_2xx,
            stored: audit.stored_rows,
            duplicates_dropped: tally.clicks_2xx.saturating_sub(distinct_2xx),
            lost: audit.lost + under,
            double_counted: audit.duplicate_rows + over,
            recoveries,
            failures,
            notes,
        })
    }

    /// Only the poison may be in the dead-letter stream, and all of it.
    async fn check_dead_letters(
        &mut self,
        poison: &[EntryId],
        failures: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let letters = self.queue.dead_letters().await?;
        let expected: BTreeSet<EntryId> = poison.iter().copied().collect();
        let mut found = BTreeSet::new();
        let mut strays = Vec::new();
        for letter in &letters {
            match EntryId::parse(&letter.source_id) {
                Some(id) if expected.contains(&id) => {
                    found.insert(id);
                }
                _ => strays.push(format!(
                    "{} ({}: {})",
                    letter.source_id,
                    letter.click_id().unwrap_or("no click_id"),
                    letter.reason
                )),
            }
        }
        if !strays.is_empty() {
            failures.push(format!(
                "{} entr(ies) in the dead-letter stream that are not poison, e.g. {}",
                strays.len(),
                strays
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if found.len() < expected.len() {
            failures.push(format!(
                "{} of {} poison entries are not in the dead-letter stream",
                expected.len() - found.len(),
                expected.len()
            ));
        }
        if !expected.is_empty() {
            notes.push(format!(
                "{} of {} poison entries in the dead-letter stream",
                found.len(),
                expected.len()
            ));
        }
        Ok(())
    }
}
