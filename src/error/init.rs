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

    /// `stats`: no proxy answered where it asked, and one holds the data
    /// directory — so it runs elsewhere (another port or address).
    #[error(
        "a running proxy holds {path} but none answered at {url} ({why}): pass the --port \
         (and --host) it listens on, e.g. `llm-key-proxy stats --port 8001`"
    )]
    ProxyElsewhere {
        path: PathBuf,
        url: String,
        why: String,
    },

    /// `stats`: the proxy answered but refused the key `stats` sent.
    #[error(
        "the proxy at {url} refused the key (HTTP {status}): run stats with the same .env as \
         the proxy, or set PROXY_API_KEY to its key"
    )]
    StatsUnauthorized { url: String, status: u16 },

    /// The database's lock is held: moving or opening it would take a
    /// running proxy's state.
    #[error(
        "another llm-key-proxy is running with the state database {path}: stop it, or give \
         this one another --data-dir"
    )]
    DataDirInUse { path: PathBuf },

    /// No room to open the database. Not corruption: it is left untouched.
    #[error(
        "the disk holding {path} is full ({reason}): free some space there and start again, \
         or pass another --data-dir (the state database was left as it was)"
    )]
    DiskFull { path: PathBuf, reason: String },

    #[error("cannot listen on {addr}: {reason}: free the port or pick another with --port")]
    Bind { addr: String, reason: String },

    #[error("cannot start {what}: {reason}")]
    Runtime { what: &'static str, reason: String },
}

/// The key pool's store could not be opened: the same message, as a
/// startup error.
impl From<crate::store::OpenError> for InitError {
    fn from(error: crate::store::OpenError) -> InitError {
        use crate::store::OpenError;
        match error {
            OpenError::DataDir { path, reason } => InitError::DataDir { path, reason },
            OpenError::DataDirInUse { path } => InitError::DataDirInUse { path },
            OpenError::DiskFull { path, reason } => InitError::DiskFull { path, reason },
        }
    }
}
