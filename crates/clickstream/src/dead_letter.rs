//! Inspecting and replaying the dead-letter stream (`<queue>:dead-letter`).
//!
//! Each dead letter holds the original entry's fields plus the `dead_letter_*`
//! fields of [`crate::consumer`]. Replay appends the original fields to the
//! main stream as a new entry, then deletes the dead letter; a crash between
//! the two replays it twice, which the worker's dedupe makes harmless.

use redis::aio::ConnectionLike;
use redis::{RedisResult, Value};
use serde::Serialize;

use domain::stream_entry::{self, FIELD_CLICKS_LZ4};

use crate::consumer::{self, DL_AT, DL_DELIVERIES, DL_REASON, DL_SOURCE_ID, StreamNames};

/// One dead-lettered entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its ID on the dead-letter stream.
    pub id: String,
    /// Its ID on the main stream when it was set aside.
    pub source_id: String,
    pub reason: String,
    pub deliveries: String,
    pub at: String,
    /// The original fields, as text (lossy for bytes that are not UTF-8; a
    /// compressed pack's `clicks_lz4` shown as its JSON when it expands).
    pub fields: Vec<(String, String)>,
    #[serde(skip)]
    raw: Vec<(Vec<u8>, Vec<u8>)>,
}

impl DeadLetter {
    fn from_entry(id: String, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let mut letter = Self {
            id,
            source_id: String::new(),
            reason: String::new(),
            deliveries: String::new(),
            at: String::new(),
            fields: Vec::new(),
            raw: Vec::new(),
        };
        for (field, value) in pairs {
            let text = String::from_utf8_lossy(&value).into_owned();
            match field.as_slice() {
                f if f == DL_REASON.as_bytes() => letter.reason = text,
                f if f == DL_SOURCE_ID.as_bytes() => letter.source_id = text,
                f if f == DL_DELIVERIES.as_bytes() => letter.deliveries = text,
                f if f == DL_AT.as_bytes() => letter.at = text,
                _ => {
                    let text = if field == FIELD_CLICKS_LZ4.as_bytes() {
                        stream_entry::decompress(&value)
                            .map_or(text, |json| String::from_utf8_lossy(&json).into_owned())
                    } else {
                        text
                    };
                    letter
                        .fields
                        .push((String::from_utf8_lossy(&field).into_owned(), text));
                    letter.raw.push((field, value));
                }
            }
        }
        letter
    }

    /// The original `click_id`, if the entry had one.
    pub fn click_id(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == "click_id")
            .map(|(_, value)| value.as_str())
    }
}

/// The oldest `count` dead letters.
pub async fn list(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    count: usize,
) -> RedisResult<Vec<DeadLetter>> {
    range(conn, &names.dead_letter(), "-", "+", count).await
}

/// Which dead letters to replay.
#[derive(Debug, Clone)]
pub enum Selection {
    Ids(Vec<String>),
    All,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Dead-letter IDs put back on the main stream.
    pub replayed: Vec<String>,
    /// Requested IDs that are not in the dead-letter stream.
    pub missing: Vec<String>,
}

/// Puts the selected dead letters back on the main stream.
pub async fn replay(
    conn: &mut (impl ConnectionLike + Send + Sync),
    names: &StreamNames,
    selection: Selection,
) -> RedisResult<Replayed> {
    let key = names.dead_letter();
    let mut outcome = Replayed::default();
    let letters = match selection {
        Selection::All => range(conn, &key, "-", "+", usize::MAX).await?,
        Selection::Ids(ids) => {
            let mut found = Vec::new();
            for id in ids {
                match range(conn, &key, &id, &id, 1).await?.pop() {
                    Some(letter) => found.push(letter),
                    None => outcome.missing.push(id),
                }
            }
            found
        }
    };
    for letter in letters {
        let mut add = redis::cmd("XADD");
        add.arg(&names.stream).arg("*");
        for (field, value) in &letter.raw {
            add.arg(field.as_slice()).arg(value.as_slice());
        }
        let _: String = add.query_async(conn).await?;
        let _: u64 = redis::cmd("XDEL")
            .arg(&key)
            .arg(&letter.id)
            .query_async(conn)
            .await?;
        outcome.replayed.push(letter.id);
    }
    Ok(outcome)
}

async fn range(
    conn: &mut (impl ConnectionLike + Send + Sync),
    key: &str,
    start: &str,
    end: &str,
    count: usize,
) -> RedisResult<Vec<DeadLetter>> {
    let mut command = redis::cmd("XRANGE");
    command.arg(key).arg(start).arg(end);
    if count != usize::MAX {
        command.arg("COUNT").arg(count);
    }
    let reply: Value = command.query_async(conn).await?;
    Ok(consumer::parse_entries(reply)
        .into_iter()
        .map(|entry| DeadLetter::from_entry(entry.id, entry.fields))
        .collect())
}

/// The oldest dead letters over every shard, shard 0 first, at most `count`
/// in all: each shard's names with what its dead-letter stream holds.
pub async fn list_shards<'a>(
    conn: &mut (impl ConnectionLike + Send + Sync),
    shards: &'a [StreamNames],
    count: usize,
) -> RedisResult<Vec<(&'a StreamNames, Vec<DeadLetter>)>> {
    let mut left = count;
    let mut found = Vec::new();
    for names in shards {
        if left == 0 {
            break;
        }
        let letters = list(conn, names, left).await?;
        left -= letters.len();
        found.push((names, letters));
    }
    Ok(found)
}

/// What a replay over every shard did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardsReplayed {
    /// Per shard: its stream key and the dead-letter IDs put back on it.
    pub replayed: Vec<(String, Vec<String>)>,
    /// Requested IDs that no shard's dead-letter stream holds.
    pub missing: Vec<String>,
}

/// Replays the selection on every shard; an ID is missing only when no
/// shard has it.
pub async fn replay_shards(
    conn: &mut (impl ConnectionLike + Send + Sync),
    shards: &[StreamNames],
    selection: Selection,
) -> RedisResult<ShardsReplayed> {
    let mut outcome = ShardsReplayed::default();
    let mut missing: Option<Vec<String>> = None;
    for names in shards {
        let replayed = replay(conn, names, selection.clone()).await?;
        outcome
            .replayed
            .push((names.stream.clone(), replayed.replayed));
        missing = Some(match missing {
            None => replayed.missing,
            Some(before) => before
                .into_iter()
                .filter(|id| replayed.missing.contains(id))
                .collect(),
        });
    }
    outcome.missing = missing.unwrap_or_default();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use domain::stream_entry::{ClickValues, PackCompression};

    use super::*;

    #[test]
    fn a_compressed_pack_is_listed_as_its_json_and_replayed_as_its_bytes() {
        let click: ClickValues = [
            "c",
            "7",
            "s",
            "2025-06-11T14:00:01.000000Z",
            "sig",
            "2025-06-11T14:00:01.000000Z",
        ]
        .map(str::to_owned);
        let clicks = vec![click; stream_entry::COMPRESS_MIN_CLICKS];
        let [packed, count] = stream_entry::pack(clicks.iter(), PackCompression::Lz4);
        assert_eq!(packed.0, FIELD_CLICKS_LZ4);
        let pairs = vec![
            (packed.0.as_bytes().to_vec(), packed.1.clone()),
            (count.0.as_bytes().to_vec(), count.1),
            (
                DL_REASON.as_bytes().to_vec(),
                b"field `click_id` is missing".to_vec(),
            ),
        ];
        let letter = DeadLetter::from_entry("1-0".to_owned(), pairs);
        assert_eq!(letter.reason, "field `click_id` is missing");
        assert_eq!(letter.fields[0].0, FIELD_CLICKS_LZ4);
        // The listed text is the pack's plain JSON: read back as `clicks`.
        let listed = [(stream_entry::FIELD_CLICKS, letter.fields[0].1.as_str())];
        assert_eq!(
            stream_entry::unpack(&listed),
            Ok(stream_entry::EntryClicks::Packed(clicks))
        );
        assert_eq!(
            letter.raw[0].1, packed.1,
            "replay appends the bytes as they were"
        );
    }
}
