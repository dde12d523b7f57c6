//! `worker`: consumes the click stream in a consumer group and writes each
//! click exactly once, with its aggregates, to MySQL: lanes store the
//! clicks, and one aggregator per process folds their counts into the
//! aggregate tables.

pub mod aggregator;
pub mod cli;
mod config;
mod health;
pub mod processor;
mod startup;

pub use config::{Command, DeadLetterCommand, Settings};
pub use processor::{BatchReport, Lane, LaneOptions, Outcome};
pub use startup::Application;
