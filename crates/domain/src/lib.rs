//! Pure types and rules of the clicks service.
//!
//! Nothing in this crate performs I/O or knows about a web framework, Redis or
//! MySQL: it is the vocabulary the three binaries share.

pub mod access;
pub mod click;
pub mod field_errors;
pub mod senders;
pub mod signature;
pub mod standard_webhooks;
pub mod stream_entry;

pub use click::{Click, MAX_DATE, MIN_DATE, OfferId, parse_batch, parse_click, parse_object};
pub use field_errors::FieldErrors;
pub use signature::{SignatureVerifier, sign};
pub use stream_entry::{DecodeError, StreamClick};
