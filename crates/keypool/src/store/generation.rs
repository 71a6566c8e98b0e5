//! Detecting a database that sled opens but that lost records.
//!
//! sled recovers a damaged log by keeping what it can read, silently: a
//! few bytes overwritten near the start of its file, or a truncated file,
//! open as an empty database. So every explicit flush writes a generation
//! number into the database (`meta/generation`) and, once the flush is on
//! disk, mirrors it in a small side file next to it (written to a
//! temporary file and renamed, so it is never half-written). The side file
//! only ever names a generation the database already holds on disk: a
//! database holding less than the side file says has lost records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The side file, inside the database directory: removing the directory
/// (a deliberate fresh start) removes it too.
const SIDE_FILE: &str = "proxy-generation";

/// The key of the generation in the `meta` tree.
pub const META_KEY: &str = "generation";

/// The generation counter of one database, shared by its handles.
#[derive(Debug)]
pub struct Generation {
    side: PathBuf,
    /// The generation of the last flush started.
    next: AtomicU64,
    /// The generation the side file names (only ever raised).
    mirrored: Mutex<u64>,
}

// === impl Generation ===

impl Generation {
    /// Starts counting at `at` for the database at `db_path`.
    pub fn new(db_path: &Path, at: u64) -> Generation {
        Generation {
            side: db_path.join(SIDE_FILE),
            next: AtomicU64::new(at),
            mirrored: Mutex::new(0),
        }
    }

    /// The generation for a flush about to start.
    pub fn bump(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Continues from at least `at` (the database reopened holds it).
    pub fn raise_to(&self, at: u64) {
        self.next.fetch_max(at, Ordering::SeqCst);
    }

    /// Records in the side file that `generation` is on disk. A failure
    /// leaves the older number, which never raises a false alarm.
    pub fn mirror(&self, generation: u64) {
        let Ok(mut mirrored) = self.mirrored.lock() else {
            return;
        };
        if generation <= *mirrored {
            return;
        }
        match write_side(&self.side, generation) {
            Ok(()) => *mirrored = generation,
            Err(e) => log::debug!("cannot update {}: {e}", self.side.display()),
        }
    }
}

/// The generation the side file of the database at `db_path` names, if
/// it names one.
pub fn read_side(db_path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(db_path.join(SIDE_FILE)).ok()?;
    text.trim().parse().ok()
}

/// The generation stored in the database itself (0 when none).
pub fn decode(raw: Option<&[u8]>) -> u64 {
    raw.and_then(|raw| <[u8; 8]>::try_from(raw).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Writes the side file so that after a power loss it holds either the
/// old generation or the new one: the temporary file's bytes are synced
/// before the rename, and the directory after it (a rename that reached
/// the disk ahead of the bytes would leave an empty file, and no record
/// of what the database held).
fn write_side(side: &Path, generation: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = side.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(format!("{generation}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, side)?;
    if let Some(dir) = side.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_side_file_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let generation = Generation::new(dir.path(), 4);
        assert_eq!(read_side(dir.path()), None);
        let (a, b) = (generation.bump(), generation.bump());
        assert_eq!((a, b), (5, 6));
        generation.mirror(b);
        generation.mirror(a); // an earlier flush finishing late
        assert_eq!(read_side(dir.path()), Some(6));
        generation.raise_to(3);
        assert_eq!(generation.bump(), 7);
        assert_eq!(decode(Some(&7u64.to_be_bytes())), 7);
        assert_eq!(decode(Some(b"junk")), 0);
        assert_eq!(decode(None), 0);
    }
}
