//! Why the database cannot be opened. The proxy turns these into its
//! startup errors, with the same messages.

use std::path::PathBuf;

/// The database in the data directory cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot open the state database in {path}: {reason}: check the directory exists and \
         is writable, or pass another one with --data-dir"
    )]
    DataDir { path: PathBuf, reason: String },

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
}
