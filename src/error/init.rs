//! Startup errors: printed as one line, then the process exits with status 1.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Bad settings, environment or `.env`; the message names the culprit.
    #[error("{0}")]
    Config(String),

    #[error(
        "cannot open the state database in {path}: {reason}: check the directory exists and \
         is writable, or pass another one with --data-dir"
    )]
    DataDir { path: PathBuf, reason: String },

    #[error("cannot listen on {addr}: {reason}: free the port or pick another with --port")]
    Bind { addr: String, reason: String },

    #[error("cannot start {what}: {reason}")]
    Runtime { what: &'static str, reason: String },
}
