//! reporting-api's integration tests, one binary: each module is one concern.

mod export_support;
mod keys_support;
mod reports_support;

mod dashboard;
mod dependencies_down;
mod export;
mod export_metrics;
mod health;
mod keys;
mod keys_restricted;
mod openapi;
mod replica;
mod reports;
mod reports_tz_cache;
mod retention;
mod tls_database;
