//! `ingest`: verifies signed click webhooks and appends each click to the
//! Redis stream, answering 2xx only once Redis has acknowledged it.

pub mod backlog;
mod config;
mod error;
pub mod guard;
mod health;
pub mod keys_cli;
pub mod openapi;
mod replay;
pub mod senders;
mod startup;
mod webhooks;

pub use config::{Command, Settings};
pub use startup::Application;
