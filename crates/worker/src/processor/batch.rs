//! A batch read from the stream, decoded into the clicks to store and the
//! entries (or single clicks of a packed entry) to set aside.

use chrono::NaiveDate;
use clickstream::RawEntry;
use domain::StreamClick;
use domain::stream_entry::{self, ClickValues, DecodeError, EntryClicks};

use super::LaneOptions;

/// A batch read from the stream and sorted into clicks and dead letters.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<RawEntry>,
    pub clicks: Vec<StreamClick>,
    /// For each click, the index in `entries` of the entry it came from.
    pub(super) origins: Vec<usize>,
    /// What is set aside, with the reason: whole entries, or single clicks
    /// of a packed entry (as a one-click entry under the pack's ID).
    pub rejected: Vec<(RawEntry, String)>,
}

/// One decoded click of an entry, with its values when it came from a pack
/// (to set it aside alone).
type DecodedClick = (Result<StreamClick, DecodeError>, Option<ClickValues>);

impl Batch {
    /// Decodes each entry's clicks; undecodable or over-delivered entries
    /// are set aside, and so are undecodable clicks of a pack and clicks of
    /// dates retention may have deleted (one day before the first date
    /// ingest accepts): storing one could count it twice.
    pub(super) fn decode(entries: Vec<RawEntry>, options: &LaneOptions) -> Self {
        let mut batch = Self {
            clicks: Vec::with_capacity(entries.len()),
            entries,
            ..Self::default()
        };
        let oldest = oldest_storable_date(options.retention_days);
        for index in 0..batch.entries.len() {
            let entry = &batch.entries[index];
            if entry.deliveries > options.max_deliveries {
                let reason = format!(
                    "delivered {} times without being acknowledged",
                    entry.deliveries
                );
                batch.set_aside(entry.clone(), reason);
                continue;
            }
            match entry_clicks(entry) {
                Ok(decoded) => batch.keep_storable(index, decoded, oldest),
                Err(error) => {
                    batch.set_aside(entry.clone(), format!("undecodable entry: {error}"));
                }
            }
        }
        batch
    }

    /// Keeps the storable clicks of entry `index` and sets aside the rest.
    fn keep_storable(
        &mut self,
        index: usize,
        decoded: Vec<DecodedClick>,
        oldest: Option<NaiveDate>,
    ) {
        for (click, values) in decoded {
            let reason = match click {
                Ok(click) if oldest.is_some_and(|oldest| click.click.date() < oldest) => {
                    format!(
                        "dated {}, older than CLICKS_RETENTION_DAYS keeps",
                        click.click.date()
                    )
                }
                Ok(click) => {
                    self.clicks.push(click);
                    self.origins.push(index);
                    continue;
                }
                Err(error) => format!("undecodable entry: {error}"),
            };
            match values {
                Some(values) => self.set_aside_click(index, &values, reason),
                None => self.set_aside(self.entries[index].clone(), reason),
            }
        }
    }

    fn set_aside(&mut self, entry: RawEntry, reason: String) {
        self.rejected.push((entry, reason));
    }

    /// Sets aside one click of entry `origin`: the entry itself when it
    /// holds only this click, else the click alone.
    pub(super) fn set_aside_click(&mut self, origin: usize, values: &ClickValues, reason: String) {
        let entry = &self.entries[origin];
        let entry = if stream_entry::is_packed(&entry.fields) {
            RawEntry {
                id: entry.id.clone(),
                fields: stream_entry::named(values)
                    .iter()
                    .map(|(field, value)| (field.as_bytes().to_vec(), value.as_bytes().to_vec()))
                    .collect(),
                deliveries: entry.deliveries,
            }
        } else {
            entry.clone()
        };
        self.set_aside(entry, reason);
    }
}

/// The clicks of `entry`: one, or each click of a pack.
fn entry_clicks(entry: &RawEntry) -> Result<Vec<DecodedClick>, DecodeError> {
    Ok(match stream_entry::unpack(&entry.fields)? {
        EntryClicks::One => vec![(StreamClick::decode(&entry.fields), None)],
        EntryClicks::Packed(clicks) => clicks
            .into_iter()
            .map(|values| (StreamClick::decode_values(&values), Some(values)))
            .collect(),
    })
}

/// The first date a click may carry and still be stored, under
/// `CLICKS_RETENTION_DAYS`: one day before the first date ingest accepts.
fn oldest_storable_date(retention_days: Option<u32>) -> Option<NaiveDate> {
    retention_days.map(|days| {
        let first = domain::click::retention_first_kept(chrono::Utc::now().date_naive(), days);
        first.pred_opt().unwrap_or(first)
    })
}
