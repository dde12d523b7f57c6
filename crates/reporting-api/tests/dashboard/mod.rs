//! The reports dashboard: its page and assets under a strict CSP, the
//! session that stands in for the key, and the hourly series its chart reads.
//! (The page itself is exercised in Chromium by `scripts/dashboard-test.sh`.)

mod hourly;
mod page;
mod session;
