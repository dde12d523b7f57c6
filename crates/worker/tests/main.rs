//! The worker's integration tests, one binary: each module is one concern.

#[path = "../../ingest/tests/support/mod.rs"]
mod ingest_support;

mod dependencies_down;
mod end_to_end;
mod graceful_shutdown;
mod packed_entries;
mod sharded_stream;
mod stream_to_mysql;
mod undecodable_entries_fuzz;
