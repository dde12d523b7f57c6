//! Why a parsed, signed click is still refused: a date older than
//! `CLICKS_RETENTION_DAYS` keeps, or a source its sender may not post.

use domain::senders::Sender;
use domain::{Click, FieldErrors};

use super::{WebhookState, now};

impl WebhookState {
    /// The retention window as of now, when `CLICKS_RETENTION_DAYS` is set.
    pub(super) fn retention(&self) -> Option<Retention> {
        let days = self.retention_days?;
        Some(Retention {
            days,
            first: domain::click::retention_first_kept(now().date_naive(), days),
        })
    }
}

/// The oldest UTC date `CLICKS_RETENTION_DAYS` lets in, fixed for one request.
pub(super) struct Retention {
    days: u32,
    first: chrono::NaiveDate,
}

impl Retention {
    /// Why `click` is older than the service keeps, or `None` when it is not.
    pub(super) fn refuses(&self, click: &Click) -> Option<FieldErrors> {
        (click.date() < self.first).then(|| {
            FieldErrors::single(
                "timestamp",
                format!(
                    "The timestamp must not be before {} (the service keeps {} days of clicks).",
                    self.first, self.days
                ),
            )
        })
    }
}

/// Why `sender` may not post a click of `source`, or `None` when it may.
pub(super) fn forbidden_source(sender: &Sender, source: &str) -> Option<FieldErrors> {
    if sender.allows(source) {
        return None;
    }
    metrics::counter!(
        crate::senders::SENDER_CLICKS_TOTAL,
        "sender" => sender.name.clone(),
        "result" => "forbidden"
    )
    .increment(1);
    tracing::info!(sender = %sender.name, source, "click refused: source not allowed for this sender");
    Some(FieldErrors::single(
        "source",
        format!(
            "The sender {} may not post clicks of this source.",
            sender.name
        ),
    ))
}
