//! `reporting-api`: reports from the aggregates and the export to Finance.

pub mod auth;
mod config;
pub mod dashboard;
pub mod error;
pub mod export;
mod health;
pub mod keys;
pub mod openapi;
pub mod reports;
pub mod retention;
mod startup;

pub use config::{Command, FinanceSettings, ReportSettings, Settings};
pub use startup::{AppState, Application, ConfigurationError};
