//! Opening the database, and what to do when it cannot be opened.

use std::path::Path;

use crate::error::InitError;

/// sled writes its log to disk at least this often; together with the
/// pool's write-behind interval this bounds how much usage a crash loses.
const SLED_FLUSH_EVERY_MS: u64 = 500;

/// How long a held lock is retried before the database counts as in use:
/// 20 × 50 ms = 1 s.
const LOCK_RETRIES: u32 = 20;
const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

fn open(path: &Path) -> sled::Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
        .open()
}

/// Opens the database at `path`. One that is corrupt is renamed to
/// `<path>.corrupt-<time>` (kept for inspection, logged loudly) and a fresh
/// one is created. One locked by another process is an error: moving it
/// would lose a running proxy's state.
pub fn open_or_move_aside(data_dir: &Path, path: &Path) -> Result<sled::Db, InitError> {
    let fail = |reason: String| InitError::DataDir {
        path: data_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let mut lock_retries = 0;
    let error = loop {
        match open(path) {
            Ok(db) => return Ok(db),
            // A previous owner (a process that just exited, a handle just
            // dropped) may still be letting go of the file lock.
            Err(e) if is_lock_conflict(&e) && lock_retries < LOCK_RETRIES => {
                lock_retries += 1;
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            Err(e) => break e,
        }
    };
    if is_lock_conflict(&error) {
        return Err(fail(format!(
            "it is in use by another process (is llm-key-proxy already running?): {error}"
        )));
    }
    if let sled::Error::Io(io) = &error {
        if io.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(fail(error.to_string()));
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = path.with_extension(format!("sled.corrupt-{stamp}"));
    std::fs::rename(path, &aside)
        .map_err(|e| fail(format!("{error}; moving it aside failed: {e}")))?;
    log::error!(
        "THE STATE DATABASE COULD NOT BE OPENED ({error}). It was moved to {} and a fresh one \
         was started: cooldowns and usage start from zero.",
        aside.display()
    );
    open(path).map_err(|e| fail(e.to_string()))
}

fn is_lock_conflict(error: &sled::Error) -> bool {
    match error {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_database_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sled");
        {
            let db = open(&path).unwrap();
            db.insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        for entry in std::fs::read_dir(&path).unwrap() {
            let file = entry.unwrap().path();
            if file.is_file() {
                std::fs::write(&file, b"garbage, not a sled file at all").unwrap();
            }
        }
        let db = open_or_move_aside(dir.path(), &path).unwrap();
        assert!(db.get("k").unwrap().is_none(), "a fresh database");
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("corrupt"))
            .collect();
        assert_eq!(kept.len(), 1, "the old one is kept");
    }

    #[test]
    fn a_database_in_use_is_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sled");
        let _running = open(&path).unwrap();
        let err = open_or_move_aside(dir.path(), &path)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already running"), "{err}");
        assert!(path.exists());
    }
}
