//! `GET /api/reports/aggregated` and `/summary` against real MariaDB: the
//! contract's examples, validation, filters, sorting, pagination, group_by
//! and CSV. (Time zones and the cache: `reports_tz_cache/`.)

mod contract;
mod csv;
mod rows;
mod validation;

/// No cache, so every answer is computed.
const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];
