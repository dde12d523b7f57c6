//! Stream entries as they come back from Redis: IDs, and replies parsed
//! tolerantly (a malformed entry must end in the dead-letter stream, never
//! stop a worker).

use redis::Value;

/// A stream entry as read, before decoding: its ID and raw field/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub id: String,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Times the group has delivered it, this delivery included.
    pub deliveries: u64,
}

/// A stream entry ID, `<milliseconds>-<sequence>`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    pub millis: u64,
    pub sequence: u64,
}

impl EntryId {
    pub fn parse(text: &str) -> Option<Self> {
        let (millis, sequence) = text.split_once('-')?;
        Some(Self {
            millis: millis.parse().ok()?,
            sequence: sequence.parse().ok()?,
        })
    }

    pub(crate) fn next(self) -> Self {
        match self.sequence.checked_add(1) {
            Some(sequence) => Self { sequence, ..self },
            None => Self {
                millis: self.millis.saturating_add(1),
                sequence: 0,
            },
        }
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

/// Parses an `XREADGROUP` reply tolerantly: a malformed entry must end in the
/// dead-letter stream, never stop the worker, so nothing here fails.
pub(crate) fn parse_read_reply(reply: Value) -> Vec<RawEntry> {
    let streams = match reply {
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(key, entries)| Value::Array(vec![key, entries]))
            .collect(),
        _ => return Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            Value::Array(mut parts) if parts.len() == 2 => parts.pop(),
            _ => None,
        })
        .flat_map(parse_entries)
        .collect()
}

pub(crate) fn parse_entries(entries: Value) -> Vec<RawEntry> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(mut parts) = entry else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            // Values are moved out of the reply, not copied: a batch holds
            // a dozen byte strings per entry.
            let values = parts.pop()?;
            let id = into_text(parts.pop()?)?;
            // A deleted entry still pending comes back with no fields.
            let fields = match values {
                Value::Array(flat) => {
                    let mut fields = Vec::with_capacity(flat.len() / 2);
                    let mut flat = flat.into_iter();
                    while let (Some(field), Some(value)) = (flat.next(), flat.next()) {
                        if let (Some(field), Some(value)) = (into_bytes(field), into_bytes(value)) {
                            fields.push((field, value));
                        }
                    }
                    fields
                }
                Value::Map(pairs) => pairs
                    .into_iter()
                    .filter_map(|(field, value)| Some((into_bytes(field)?, into_bytes(value)?)))
                    .collect(),
                _ => Vec::new(),
            };
            Some(RawEntry {
                id,
                fields,
                deliveries: 1,
            })
        })
        .collect()
}

fn into_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

pub(crate) fn into_text(value: Value) -> Option<String> {
    into_bytes(value).and_then(|bytes| String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_numerically() {
        let a = EntryId::parse("99-5").expect("id");
        let b = EntryId::parse("100-0").expect("id");
        assert!(a < b);
        assert_eq!(a.next().to_string(), "99-6");
        assert_eq!(EntryId::parse("nope"), None);
    }

    #[test]
    fn read_replies_are_parsed_tolerantly() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("stream"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("a"), bulk("b")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
                Value::Int(7),
            ]),
        ])]);
        let entries = parse_read_reply(reply);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].fields, vec![(b"a".to_vec(), b"b".to_vec())]);
        assert_eq!(entries[1].id, "2-0");
        assert!(entries[1].fields.is_empty());
        assert!(parse_read_reply(Value::Nil).is_empty());
    }
}
