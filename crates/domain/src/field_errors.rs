//! Per-field validation reasons, serialised as the `details` object of the
//! contract's error bodies: `{"<field>": ["<reason>", …]}`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Reasons why fields of a payload are invalid, keyed by field name.
///
/// A `BTreeMap` keeps the JSON output in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One field, one reason.
    pub fn single(field: &str, reason: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, reason);
        errors
    }

    pub fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(reason.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
