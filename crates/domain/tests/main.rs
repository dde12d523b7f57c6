//! The domain crate's property tests, one binary.

mod parsers_fuzz;
mod stream_entry_fuzz;
