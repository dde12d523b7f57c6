//! The Finance export (contract: Export to Finance) against real MariaDB, with wiremock as Finance.

mod delivery;
mod requests;
mod runs;
