//! The senders in force and their rate limits: built from the keys file
//! (`CLICKS_KEYS_FILE`, its `[[sender]]` entries) and `WEBHOOK_SECRET_KEY`
//! (the implicit sender, allowed every source), followed while ingest runs
//! (`service_runtime::watched`: a new or removed key takes effect within
//! `CLICKS_KEYS_FILE_CHECK_SECS` (2) or at `SIGHUP`, without a restart; a
//! malformed new version keeps the last good one). See `domain::senders` for how a request
//! is matched to its sender.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use domain::senders::{Sender, Senders};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use service_runtime::metrics::Metric;
use service_runtime::watched::{Source, Watched};

/// Clicks by sender and result: accepted (in the stream) or forbidden (a
/// source the sender may not post).
pub const SENDER_CLICKS_TOTAL: &str = "sender_clicks_total";

pub const METRICS: &[Metric] = &[Metric::counter(
    SENDER_CLICKS_TOTAL,
    "Clicks by sender and result: accepted (in the stream) or forbidden (a source the sender may not post).",
)
// Senders come and go with the keys file: described at start, series from the first click.
.by("sender", &[])];

/// The senders and, for those with a rate, their token buckets.
pub struct Registry {
    pub senders: Senders,
    limiters: Vec<Option<DefaultDirectRateLimiter>>,
}

impl Registry {
    pub fn new(senders: Senders) -> Self {
        let limiters = senders
            .iter()
            .map(|sender| {
                let (rate, burst) = sender.rate?;
                let rate = NonZeroU32::new(rate)?;
                let burst = NonZeroU32::new(burst).unwrap_or(rate);
                Some(RateLimiter::direct(
                    Quota::per_second(rate).allow_burst(burst),
                ))
            })
            .collect();
        Self { senders, limiters }
    }

    /// `Err(seconds)` when `sender` is over its rate.
    pub fn admit(&self, sender: &Sender) -> Result<(), u64> {
        let Some(Some(limiter)) = self.limiters.get(sender.index) else {
            return Ok(());
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Where the registry comes from: `WEBHOOK_SECRET_KEY` alone (fixed for
/// the life of the process), or the keys file (followed).
pub type SenderSource = Source<Registry>;

/// Builds the registry now; a problem is one line naming its variable.
pub fn load(file: Option<PathBuf>, implicit: Option<String>) -> Result<SenderSource, String> {
    let build = move |text: &str| {
        let file = domain::access::parse(text)?;
        Senders::new(&file.senders, implicit.as_deref()).map(Registry::new)
    };
    match file {
        Some(path) => Watched::load(path, "CLICKS_KEYS_FILE", Arc::new(build))
            .map(|watched| Source::Followed(Arc::new(watched))),
        None => build("")
            .map(|registry| Source::Fixed(Arc::new(registry)))
            .map_err(|error| format!("WEBHOOK_SECRET_KEY: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_over_its_rate_waits_and_others_do_not() {
        let file = domain::access::parse(
            "[[sender]]\nname = \"slow\"\nsources = [\"*\"]\nkeys = [\"k1\"]\nrate_limit = 1\n\
             [[sender]]\nname = \"free\"\nsources = [\"*\"]\nkeys = [\"k2\"]\n",
        )
        .expect("file");
        let registry = Registry::new(Senders::new(&file.senders, None).expect("senders"));
        let mut senders = registry.senders.iter();
        let (slow, free) = (senders.next().expect("slow"), senders.next().expect("free"));
        assert_eq!(registry.admit(slow), Ok(()));
        assert_eq!(registry.admit(slow), Err(1));
        for _ in 0..100 {
            assert_eq!(registry.admit(free), Ok(()));
        }
    }

    #[test]
    fn without_a_file_the_secret_is_the_one_sender() {
        let source = load(None, Some("k".to_owned())).expect("source");
        assert_eq!(source.current().senders.len(), 1);
        let error = load(None, None).err().expect("no sender");
        assert!(
            error.starts_with("WEBHOOK_SECRET_KEY: no sender"),
            "{error}"
        );
    }
}
