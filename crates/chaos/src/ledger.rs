//! What the senders know: every click sent, and whether some answer for it
//! was 2xx. At the end the ledger is set against the `clicks` table.
//!
//! A click answered 2xx must be stored exactly once. A click that never got a
//! 2xx (no answer, a 503, a reset) may or may not be in the stream — ingest
//! might have enqueued it before the answer was lost — so it may be stored,
//! once, and is counted apart, never as lost.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clicks::ClickKey;

/// Per click, the best that happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum State {
    #[default]
    Unsent = 0,
    /// Sent, never answered 2xx.
    Sent = 1,
    /// Some request carrying it was answered 2xx.
    Accepted = 2,
}

/// A value per click, by namespace then sequence number (both dense from 0).
#[derive(Debug, Clone, Default)]
struct Dense<T> {
    namespaces: Vec<Vec<T>>,
}

impl<T: Copy + Default + PartialEq> Dense<T> {
    fn get(&self, key: ClickKey) -> T {
        self.namespaces
            .get(key.namespace as usize)
            .and_then(|values| values.get(key.seq as usize))
            .copied()
            .unwrap_or_default()
    }

    fn slot(&mut self, key: ClickKey) -> &mut T {
        let namespace = key.namespace as usize;
        if self.namespaces.len() <= namespace {
            self.namespaces.resize_with(namespace + 1, Vec::new);
        }
        let values = &mut self.namespaces[namespace];
        let seq = key.seq as usize;
        if values.len() <= seq {
            values.resize(seq + 1, T::default());
        }
        &mut values[seq]
    }

    /// Every key whose value is not the default.
    fn iter(&self) -> impl Iterator<Item = (ClickKey, T)> + '_ {
        self.namespaces
            .iter()
            .enumerate()
            .flat_map(|(namespace, values)| {
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| **value != T::default())
                    .map(move |(seq, value)| (key(namespace, seq), *value))
            })
    }
}

/// Every click's state.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    states: Dense<State>,
}

impl Ledger {
    /// Raises the state of `key` to at least `state`.
    pub fn record(&mut self, key: ClickKey, state: State) {
        let slot = self.states.slot(key);
        *slot = (*slot).max(state);
    }

    pub fn state(&self, key: ClickKey) -> State {
        self.states.get(key)
    }

    /// Takes the best of both for every click.
    pub fn merge(&mut self, other: &Ledger) {
        for (key, state) in other.sent() {
            self.record(key, state);
        }
    }

    /// Every click sent, with its state.
    pub fn sent(&self) -> impl Iterator<Item = (ClickKey, State)> + '_ {
        self.states.iter()
    }
}

fn key(namespace: usize, seq: usize) -> ClickKey {
    ClickKey {
        namespace: u32::try_from(namespace).unwrap_or(u32::MAX),
        seq: u32::try_from(seq).unwrap_or(u32::MAX),
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No answer: refused, reset, or timed out.
    None,
}

/// One request, for checks of what was answered when.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Since the load started.
    pub sent: Duration,
    pub answered: Duration,
    pub answer: Answer,
    /// The clicks it carried (their offers decide their stream shards).
    pub keys: Vec<ClickKey>,
}

impl RequestRecord {
    pub fn is_2xx(&self) -> bool {
        matches!(self.answer, Answer::Status(status) if (200..300).contains(&status))
    }
}

/// Counts of one load run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub ledger: Ledger,
    /// Click copies in requests (resends and retries included).
    pub clicks_sent: u64,
    /// Click copies in requests answered 2xx.
    pub clicks_2xx: u64,
    pub requests: u64,
    /// Requests sent again because the last attempt got no 2xx.
    pub retries: u64,
    pub answers: BTreeMap<String, u64>,
    /// Every request, when the load keeps them.
    pub records: Vec<RequestRecord>,
    /// Why a batch answered 2xx did not take every click (must stay empty).
    pub batch_anomalies: Vec<String>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.ledger.merge(&other.ledger);
        self.clicks_sent += other.clicks_sent;
        self.clicks_2xx += other.clicks_2xx;
        self.requests += other.requests;
        self.retries += other.retries;
        for (answer, count) in other.answers {
            *self.answers.entry(answer).or_default() += count;
        }
        self.records.extend(other.records);
        self.batch_anomalies.extend(other.batch_anomalies);
    }

    pub fn count_answer(&mut self, answer: Answer) {
        let name = match answer {
            Answer::Status(status) => status.to_string(),
            Answer::None => "no answer".to_owned(),
        };
        *self.answers.entry(name).or_default() += 1;
    }

    /// `202: 1234, 503: 12, no answer: 3`
    pub fn answers_line(&self) -> String {
        self.answers
            .iter()
            .map(|(answer, count)| format!("{answer}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The ledger set against what the `clicks` table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// Distinct clicks answered 2xx.
    pub accepted: u64,
    /// Rows in `clicks`.
    pub stored_rows: u64,
    /// Answered 2xx, not stored (must be 0).
    pub lost: u64,
    /// A few lost `click_id` keys, to start looking.
    pub lost_examples: Vec<ClickKey>,
    /// Never answered 2xx, stored anyway: enqueued before the answer was lost.
    pub unconfirmed_stored: u64,
    /// Never answered 2xx and not stored.
    pub unconfirmed_absent: u64,
    /// Rows beyond the first of a `click_id` (must be 0).
    pub duplicate_rows: u64,
    /// Rows no sender sent, or not of this scenario (must be 0).
    pub phantom_rows: u64,
}

/// Compares the ledger with the keys of the stored rows (`None`: a
/// `click_id` that is not one of this scenario's).
pub fn audit(ledger: &Ledger, stored: impl IntoIterator<Item = Option<ClickKey>>) -> Audit {
    let mut rows: Dense<u8> = Dense::default();
    let mut audit = Audit::default();
    for key in stored {
        audit.stored_rows += 1;
        let Some(key) = key else {
            audit.phantom_rows += 1;
            continue;
        };
        if ledger.state(key) == State::Unsent {
            audit.phantom_rows += 1;
        }
        let count = rows.slot(key);
        if *count > 0 {
            audit.duplicate_rows += 1;
        }
        *count = count.saturating_add(1);
    }
    for (key, state) in ledger.sent() {
        let stored = rows.get(key) > 0;
        match (state, stored) {
            (State::Accepted, true) => audit.accepted += 1,
            (State::Accepted, false) => {
                audit.accepted += 1;
                audit.lost += 1;
                if audit.lost_examples.len() < 10 {
                    audit.lost_examples.push(key);
                }
            }
            (State::Sent, true) => audit.unconfirmed_stored += 1,
            (State::Sent, false) => audit.unconfirmed_absent += 1,
            (State::Unsent, _) => {}
        }
    }
    audit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(namespace: u32, seq: u32) -> ClickKey {
        ClickKey { namespace, seq }
    }

    #[test]
    fn states_only_go_up_and_merge_takes_the_best() {
        let mut a = Ledger::default();
        a.record(k(0, 3), State::Accepted);
        a.record(k(0, 3), State::Sent);
        assert_eq!(a.state(k(0, 3)), State::Accepted);
        assert_eq!(a.state(k(0, 2)), State::Unsent);
        assert_eq!(a.state(k(5, 0)), State::Unsent);
        let mut b = Ledger::default();
        b.record(k(0, 2), State::Sent);
        b.record(k(2, 1), State::Accepted);
        a.merge(&b);
        let sent: Vec<_> = a.sent().collect();
        assert_eq!(
            sent,
            vec![
                (k(0, 2), State::Sent),
                (k(0, 3), State::Accepted),
                (k(2, 1), State::Accepted)
            ]
        );
    }

    #[test]
    fn the_audit_tells_lost_unconfirmed_duplicate_and_phantom_rows_apart() {
        let mut ledger = Ledger::default();
        for seq in 0..5 {
            ledger.record(k(0, seq), State::Accepted);
        }
        ledger.record(k(1, 0), State::Sent);
        ledger.record(k(1, 1), State::Sent);
        let stored = [
            Some(k(0, 0)),
            Some(k(0, 1)),
            Some(k(0, 1)), // twice
            Some(k(0, 2)),
            Some(k(0, 4)),
            Some(k(1, 1)), // enqueued, answer lost
            Some(k(9, 9)), // never sent
            None,          // not this scenario's
        ];
        let audit = audit(&ledger, stored);
        assert_eq!(
            audit,
            Audit {
                accepted: 5,
                stored_rows: 8,
                lost: 1,
                lost_examples: vec![k(0, 3)],
                unconfirmed_stored: 1,
                unconfirmed_absent: 1,
                duplicate_rows: 1,
                phantom_rows: 2,
            }
        );
    }

    #[test]
    fn a_perfect_run_audits_clean() {
        let mut ledger = Ledger::default();
        for seq in 0..100 {
            ledger.record(k(3, seq), State::Accepted);
        }
        let audit = audit(&ledger, (0..100).map(|seq| Some(k(3, seq))));
        assert_eq!(audit.lost + audit.duplicate_rows + audit.phantom_rows, 0);
        assert_eq!(audit.accepted, 100);
        assert_eq!(audit.stored_rows, 100);
    }
}
