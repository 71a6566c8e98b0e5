//! Errors, split by when they happen: [`InitError`] stops startup with one
//! line saying how to fix it; [`ApiError`] answers one request in the
//! client's API envelope.

mod api;
mod init;

pub use api::{retry_after_secs, ApiError, ErrorBody, ErrorEnvelope, LOOP_DETECTED};
pub use init::InitError;
