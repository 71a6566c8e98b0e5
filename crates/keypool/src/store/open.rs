//! Opening the database, and what to do when it cannot be opened.

use std::path::{Path, PathBuf};

use super::generation;
use super::OpenError;

/// Where the database is copied before it is opened, for as long as the
/// check of its generation takes.
const COPY_DIR: &str = "state.sled.check";

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

/// What opening the database found.
pub struct Opened {
    pub db: sled::Db,
    /// The generation to continue from.
    pub generation: u64,
    /// The database had lost records (logged, a copy kept): the caller
    /// saves the generation again at once.
    pub lost: bool,
}

/// Opens the database at `path`. One that is corrupt is renamed to
/// `<path>.corrupt-<time>` (kept for inspection, logged loudly) and a fresh
/// one is created. One that opens but lost records (see [`generation`]) is
/// kept with what could be read, and a copy of its damaged files is kept
/// as `<path>.corrupt-<time>`. One locked by another process, or that
/// cannot be opened for lack of disk space, is an error and left alone.
///
/// [`generation`]: super::generation
pub fn open_checked(data_dir: &Path, path: &Path) -> Result<Opened, OpenError> {
    let fail = |reason: String| OpenError::DataDir {
        path: data_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| io_error(data_dir, e, fail))?;
    // A database in use is left alone: a second proxy, or `stats`, must not
    // copy a live database (nor the copy directory of the proxy using it).
    if held_elsewhere(path) {
        return Err(OpenError::DataDirInUse {
            path: path.to_path_buf(),
        });
    }
    let saved_generation = generation::read_side(path).unwrap_or(0);
    // sled zeroes what it cannot read while opening: the damaged files can
    // only be kept by copying them first. Only a database that has been
    // saved before can lose anything.
    let copy = (saved_generation > 0)
        .then(|| safety_copy(data_dir, path))
        .flatten();
    let error = match open_waiting_for_lock(path) {
        Ok(db) => return Ok(check_generation(db, path, saved_generation, copy)),
        Err(error) => error,
    };
    discard(copy);
    if is_lock_conflict(&error) {
        return Err(OpenError::DataDirInUse {
            path: path.to_path_buf(),
        });
    }
    if let sled::Error::Io(io) = &error {
        if is_disk_full(io) || io.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(io_error(
                path,
                std::io::Error::new(io.kind(), io.to_string()),
                fail,
            ));
        }
    }
    let aside = aside_path(path);
    std::fs::rename(path, &aside)
        .map_err(|e| fail(format!("{error}; moving it aside failed: {e}")))?;
    log::error!(
        "THE STATE DATABASE COULD NOT BE OPENED ({error}). It was moved to {} and a fresh one \
         was started: cooldowns and usage start from zero.",
        aside.display()
    );
    let db = open(path).map_err(|e| fail(e.to_string()))?;
    Ok(Opened {
        db,
        generation: 0,
        lost: false,
    })
}

/// Opens the database again after a write failed (sled refuses every
/// write after one failed), waiting briefly for the old handle's lock.
pub fn reopen(path: &Path) -> Result<sled::Db, String> {
    open_waiting_for_lock(path).map_err(|e| e.to_string())
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub fn is_disk_full(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) || matches!(error.raw_os_error(), Some(28 | 122))
}

/// Whether another handle holds the database at `path` (sled locks its
/// `db` file exclusively), waiting as long as [`open_waiting_for_lock`]
/// does for one that is letting go. A database that does not exist yet, or
/// cannot be probed, is not held.
fn held_elsewhere(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path.join("db")) else {
        return false;
    };
    for _ in 0..=LOCK_RETRIES {
        match file.try_lock_shared() {
            // Released when `file` is dropped.
            Ok(()) => return false,
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(LOCK_RETRY_PAUSE),
            Err(std::fs::TryLockError::Error(_)) => return false,
        }
    }
    true
}

fn open_waiting_for_lock(path: &Path) -> sled::Result<sled::Db> {
    let mut lock_retries = 0;
    loop {
        match open(path) {
            // A previous owner (a process that just exited, a handle just
            // dropped) may still be letting go of the file lock.
            Err(e) if is_lock_conflict(&e) && lock_retries < LOCK_RETRIES => {
                lock_retries += 1;
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            result => return result,
        }
    }
}

/// A startup I/O error: a full disk is said plainly, anything else is a
/// data directory problem.
fn io_error(path: &Path, error: std::io::Error, fail: impl Fn(String) -> OpenError) -> OpenError {
    if is_disk_full(&error) {
        OpenError::DiskFull {
            path: path.to_path_buf(),
            reason: error.to_string(),
        }
    } else {
        fail(error.to_string())
    }
}

/// Compares the generation the database holds with the one last saved;
/// on a loss, logs it and keeps the copy of the damaged files.
fn check_generation(db: sled::Db, path: &Path, saved: u64, copy: Option<PathBuf>) -> Opened {
    let held = db
        .open_tree("meta")
        .and_then(|meta| meta.get(generation::META_KEY))
        .map(|raw| generation::decode(raw.as_deref()))
        .unwrap_or(0);
    if held >= saved {
        discard(copy);
        return Opened {
            db,
            generation: held,
            lost: false,
        };
    }
    let kept = match copy {
        Some(copy) => {
            let aside = aside_path(path);
            match std::fs::rename(&copy, &aside) {
                Ok(()) => format!("a copy of the damaged files is kept in {}", aside.display()),
                Err(e) => {
                    discard(Some(copy));
                    format!("no copy of the damaged files could be kept ({e})")
                }
            }
        }
        None => "no copy of the damaged files could be kept (no room to make one)".to_string(),
    };
    log::error!(
        "STATE WAS LOST: the state database {} opened but lost records (it holds save #{held}, \
         the last save was #{saved}): cooldowns and usage saved since may be gone. The records \
         that could be read are kept; {kept}.",
        path.display()
    );
    Opened {
        db,
        generation: saved,
        lost: true,
    }
}

/// Where a damaged database (or a copy of it) is kept.
fn aside_path(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    path.with_extension(format!("sled.corrupt-{stamp}"))
}

/// Copies the database directory to `<data dir>/state.sled.check`; `None`
/// when that fails, e.g. for lack of space (said only if a loss is found:
/// a full disk at startup gets one line, from the open that follows).
fn safety_copy(data_dir: &Path, path: &Path) -> Option<PathBuf> {
    let copy = data_dir.join(COPY_DIR);
    discard(Some(copy.clone()));
    match copy_dir(path, &copy) {
        Ok(()) => Some(copy),
        Err(e) => {
            log::debug!(
                "cannot copy {} before checking it ({e}); opening it without a copy",
                path.display()
            );
            discard(Some(copy));
            None
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn discard(copy: Option<PathBuf>) {
    if let Some(copy) = copy {
        if copy.exists() {
            if let Err(e) = std::fs::remove_dir_all(&copy) {
                log::warn!("cannot remove {}: {e}", copy.display());
            }
        }
    }
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
        let db = open_checked(dir.path(), &path).unwrap().db;
        assert!(db.get("k").unwrap().is_none(), "a fresh database");
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("corrupt"))
            .collect();
        assert_eq!(kept.len(), 1, "the old one is kept");
    }

    #[test]
    fn a_full_disk_is_told_apart_from_corruption() {
        use std::io::{Error, ErrorKind};
        assert!(is_disk_full(&Error::from_raw_os_error(28)));
        assert!(is_disk_full(&Error::from(ErrorKind::StorageFull)));
        assert!(is_disk_full(&Error::from(ErrorKind::QuotaExceeded)));
        // sled wraps the OS error when a write fails.
        let wrapped = Error::new(ErrorKind::StorageFull, Error::from_raw_os_error(28));
        assert!(is_disk_full(&wrapped));
        assert!(!is_disk_full(&Error::from(ErrorKind::InvalidData)));
        assert!(!is_disk_full(&Error::from_raw_os_error(13)));
    }

    #[test]
    fn a_database_in_use_is_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sled");
        let _running = open(&path).unwrap();
        let err = open_checked(dir.path(), &path).err().unwrap().to_string();
        assert!(err.contains("another llm-key-proxy is running"), "{err}");
        assert!(
            err.contains("--data-dir") && !err.contains("WouldBlock"),
            "{err}"
        );
        assert!(path.exists());
    }

    #[test]
    fn a_database_in_use_is_neither_copied_nor_its_check_copy_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sled");
        let running = open(&path).unwrap();
        // A saved database (a copy would be made), and the running proxy's
        // own check copy in progress.
        std::fs::write(path.join("proxy-generation"), "5\n").unwrap();
        let check = dir.path().join(COPY_DIR);
        std::fs::create_dir_all(&check).unwrap();
        std::fs::write(check.join("sentinel"), "the running proxy's").unwrap();

        let err = open_checked(dir.path(), &path).err().unwrap().to_string();
        assert!(err.contains("another llm-key-proxy is running"), "{err}");
        assert!(
            check.join("sentinel").exists(),
            "its check copy is left alone"
        );
        assert_eq!(
            std::fs::read_dir(&check).unwrap().count(),
            1,
            "nothing copied"
        );

        drop(running);
        assert!(!held_elsewhere(&path), "released with its handle");
        assert!(!held_elsewhere(&dir.path().join("none")), "no database");
    }
}
