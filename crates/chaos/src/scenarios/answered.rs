//! What the senders of several loads were answered, per stream shard: the
//! requests that carried a click of some shards against those that did not,
//! within a window of time. Scenarios 9–11 judge a cluster fault by it.

use std::time::{Duration, Instant};

use clickstream::Layout;

use crate::clicks::offer_id;
use crate::ledger::{Answer, RequestRecord, Tally};

/// How the requests of a window were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answers {
    pub ok: u64,
    pub unavailable: u64,
    pub unanswered: u64,
    pub other: u64,
    /// The longest a request answered 2xx waited for it.
    pub slowest_ok: Duration,
}

impl Answers {
    fn count(&mut self, record: &RequestRecord) {
        match record.answer {
            _ if record.is_2xx() => {
                self.ok += 1;
                self.slowest_ok = self.slowest_ok.max(record.answered - record.sent);
            }
            Answer::Status(503) => self.unavailable += 1,
            Answer::None => self.unanswered += 1,
            Answer::Status(_) => self.other += 1,
        }
    }

    /// `12 × 503, 0 × 2xx, 1 unanswered`
    pub fn line(&self) -> String {
        let mut line = format!("{} × 503, {} × 2xx", self.unavailable, self.ok);
        if self.unanswered > 0 {
            line.push_str(&format!(", {} unanswered", self.unanswered));
        }
        if self.other > 0 {
            line.push_str(&format!(", {} other", self.other));
        }
        line
    }
}

/// The tallies of several loads, each with the instant its clock started.
pub struct Answered {
    runs: Vec<(Instant, Tally)>,
    layout: Layout,
}

impl Answered {
    pub fn new(runs: Vec<(Instant, Tally)>, layout: Layout) -> Self {
        Self { runs, layout }
    }

    /// Every request, with when it was sent and answered.
    fn requests(&self) -> impl Iterator<Item = (Instant, Instant, &RequestRecord)> {
        self.runs.iter().flat_map(|(started, tally)| {
            tally
                .records
                .iter()
                .map(move |record| (*started + record.sent, *started + record.answered, record))
        })
    }

    /// Whether a request carried a click of one of `shards`.
    fn touches(&self, record: &RequestRecord, shards: &[usize]) -> bool {
        record
            .keys
            .iter()
            .any(|key| shards.contains(&self.layout.shard_of(offer_id(*key))))
    }

    /// The requests sent from `from` on and answered by `to`: those that
    /// carried a click of `shards`, and the others.
    pub fn between(&self, shards: &[usize], from: Instant, to: Instant) -> (Answers, Answers) {
        let mut touching = Answers::default();
        let mut sparing = Answers::default();
        for (sent, answered, record) in self.requests() {
            if sent < from || answered > to {
                continue;
            }
            if self.touches(record, shards) {
                touching.count(record);
            } else {
                sparing.count(record);
            }
        }
        (touching, sparing)
    }

    /// When the first request sent from `from` on that carried a click of
    /// `shards` was answered 2xx.
    pub fn first_2xx(&self, shards: &[usize], from: Instant) -> Option<Instant> {
        self.requests()
            .filter(|(sent, _, record)| {
                *sent >= from && record.is_2xx() && self.touches(record, shards)
            })
            .map(|(_, answered, _)| answered)
            .min()
    }

    /// Every load's tally in one.
    pub fn into_tally(self) -> Tally {
        let mut total = Tally::default();
        for (_, tally) in self.runs {
            total.merge(tally);
        }
        // Each load timed its records from its own start: merged they would
        // mislead, and the end checks need only the ledger and the counts.
        total.records.clear();
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clicks::ClickKey;

    fn record(
        sent_ms: u64,
        answered_ms: u64,
        answer: Answer,
        keys: Vec<ClickKey>,
    ) -> RequestRecord {
        RequestRecord {
            sent: Duration::from_millis(sent_ms),
            answered: Duration::from_millis(answered_ms),
            answer,
            keys,
        }
    }

    #[test]
    fn requests_are_split_by_shard_and_window() {
        let layout = Layout::new("q", 6);
        let key_on = |shard: usize| {
            (0..)
                .map(|seq| ClickKey { namespace: 0, seq })
                .find(|key| layout.shard_of(offer_id(*key)) == shard)
                .expect("some click goes to every shard")
        };
        let (on_0, on_1) = (key_on(0), key_on(1));
        let records = vec![
            record(0, 50, Answer::Status(202), vec![on_0]),
            record(100, 400, Answer::Status(503), vec![on_0, on_1]),
            record(150, 900, Answer::Status(202), vec![on_1]),
            record(200, 300, Answer::None, vec![on_0]),
            record(600, 700, Answer::Status(202), vec![on_0]),
        ];
        let tally = Tally {
            records,
            ..Tally::default()
        };
        let started = Instant::now();
        let answered = Answered::new(vec![(started, tally)], layout);
        let at = |ms: u64| started + Duration::from_millis(ms);
        let (touching, sparing) = answered.between(&[0], at(100), at(1000));
        assert_eq!(
            (touching.ok, touching.unavailable, touching.unanswered),
            (1, 1, 1)
        );
        assert_eq!(sparing.ok, 1);
        assert_eq!(sparing.slowest_ok, Duration::from_millis(750));
        assert_eq!(answered.first_2xx(&[0], at(100)), Some(at(700)));
        assert_eq!(answered.first_2xx(&[1], at(100)), Some(at(900)));
        assert_eq!(answered.first_2xx(&[0], at(601)), None);
        assert_eq!(touching.line(), "1 × 503, 1 × 2xx, 1 unanswered");
        assert!(answered.into_tally().records.is_empty());
    }
}
