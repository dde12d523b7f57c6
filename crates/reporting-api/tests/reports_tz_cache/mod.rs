//! Reports in a time zone (local days from the hourly aggregates) and the
//! report cache, which must never serve an answer older than the last commit;
//! and how a report answers over HTTP (`Accept`, methods, a failing CSV).

mod cache;
mod http;
mod time_zones;

const NO_CACHE: &[&str] = &["--report-cache-ttl-secs=0"];
