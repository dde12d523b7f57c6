//! ingest's integration tests, one binary: each module is one concern.

mod support;

mod collecting;
mod dependencies_down;
mod openapi;
mod senders;
mod signed_bodies_fuzz;
mod webhooks;
