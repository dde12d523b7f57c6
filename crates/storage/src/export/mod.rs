//! The Finance export's statements: the `click_exports` record and lease of
//! a date (`record`), and the date's clicks as chunks read them (`rows`).

pub mod record;
pub mod rows;
