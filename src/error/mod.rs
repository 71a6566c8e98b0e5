//! Errors, split by when they happen: [`InitError`] stops startup with one
//! line saying how to fix it; [`ApiError`] answers one request in the
//! client's API envelope.

mod api;
mod init;

pub use api::{retry_after_secs, ApiError, ErrorBody, ErrorEnvelope};
pub use init::InitError;

/// A character as error messages name it: `` `?` ``, "a space", or the
/// code point of an invisible one (which would not show when quoted).
pub fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab (U+0009)".to_string(),
        '\n' => "a line break (U+000A)".to_string(),
        '\r' => "a carriage return (U+000D)".to_string(),
        c if c.is_whitespace() || c.is_control() => format!("U+{:04X}", u32::from(c)),
        c => format!("`{c}`"),
    }
}
