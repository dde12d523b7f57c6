//! The one owner of Redis: every key, group, consumer name and command of
//! the clicks service, on one node or on a Redis Cluster.
//!
//! ingest, the worker and reporting-api call this crate; so do the bench,
//! the chaos suite and the tests. Nobody else builds a Redis command.
//!
//! # Layout
//!
//! All names derive from `CLICKS_QUEUE_NAME` (`<queue>`, default
//! `clicks-processing`) and `CLICKS_STREAM_SHARDS` (N, default 1):
//!
//! | key | what |
//! |---|---|
//! | `<queue>` (N = 1) or `<queue>:{<tag>}` (N > 1, one per shard) | the click stream: a click alone is one entry, clicks written together are packed up to 128 per entry, LZ4-compressed from 16 clicks on (`domain::stream_entry`) |
//! | `<stream>:dead-letter` | per shard: entries set aside, with `dead_letter_reason`, `dead_letter_source_id`, `dead_letter_deliveries`, `dead_letter_at` |
//! | `<queue>:webhook-id:<id>` | a Standard Webhooks message id, remembered for twice the timestamp tolerance |
//! | `reports:cache:v1:<sha256>` | a cached report body (its key hashes the query and the versions of its dates) |
//! | `reports:session:v1:<sha256>` | a reports dashboard session, by the SHA-256 of its cookie (the record names the SHA-256 of the reporting key, never the key) |
//!
//! - **Shards.** A click goes to the shard its `offer_id` hashes to
//!   ([`layout::shard_of`], FNV-1a, fixed forever), decided once when its
//!   [`Entry`] is made. Shard `i`'s hash tag ([`layout::shard_tag`]) is
//!   chosen so its slot lies in the `i`-th of N equal slot ranges: on a
//!   cluster whose masters hold equal ranges, N a multiple of the masters
//!   puts N / masters shards on each.
//! - **One slot per call.** A shard and its dead-letter stream share a slot
//!   (the tag); every pipeline touches one slot ([`layout::SlotPipeline`]
//!   panics in debug builds on a cross-slot command, in both topologies), and
//!   every blocking read names one stream.
//! - **Group.** Consumer group `WORKER_GROUP` (default [`DEFAULT_GROUP`]) on
//!   every shard, created from ID `0` with `MKSTREAM` when missing. Consumer
//!   names are `WORKER_CONSUMER_NAME` (default `<host>-<pid>`), with `-<lane>`
//!   appended when `WORKER_CONCURRENCY` > 1; the same names repeat on every
//!   shard (each shard has its own group).
//! - **Acknowledgement.** An entry is `XACK`ed only after its click is
//!   committed to MySQL or it is in the dead-letter stream. A shard is
//!   trimmed (`XTRIM MINID`) only below the oldest entry any group still
//!   needs. The backlog is lag + pending of the slowest group, summed over shards.
//!
//! # Modules
//!
//! - [`admin`]: removing a queue's keys (tests, bench, chaos).
//! - [`settings`]: `REDIS_URL` (standalone, cluster, TLS, credentials) and its TLS files.
//! - [`connection`]: [`Redis`], the handle; [`Conn`], a connection to either topology.
//! - [`layout`]: key names, shard routing, slots.
//! - [`enqueue`]: ingest's pipelined `XADD`s, with `WAIT` for replicas.
//! - [`consumer`]: the worker's group commands; [`entry`]: entry IDs and replies.
//! - [`dead_letter`]: listing and replaying dead letters.
//! - [`backlog`]: how far the workers are behind.
//! - [`inspect`]: a group seen from outside (chaos verdicts, tests), poison entries.
//! - [`keyvalue`]: webhook-id replay keys and the report cache.
//! - [`health`]: what the health endpoints report about Redis.

pub mod admin;
pub mod backlog;
pub mod connection;
pub mod consumer;
pub mod dead_letter;
pub mod enqueue;
pub mod entry;
pub mod health;
pub mod inspect;
pub mod keyvalue;
pub mod layout;
pub mod settings;

pub use connection::{Conn, ConnectError, Redis};
pub use consumer::{EntryId, RawEntry, StreamNames};
pub use enqueue::{EnqueueError, Enqueuer, EnqueuerLimits, Entry};
pub use layout::{DEFAULT_GROUP, DEFAULT_QUEUE, Layout};
pub use redis::{RedisError, RedisResult};
pub use settings::RedisSettings;
