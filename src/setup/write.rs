//! Reading and atomically writing the env file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::EnvMap;
use crate::error::InitError;

/// Reads `path`; a missing file is empty. A malformed file is an error that
/// names the line without showing it.
pub fn read_env_file(path: &Path) -> Result<String, InitError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            EnvMap::load(path)?;
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(InitError::Config(format!(
            "cannot read {}: {e}: check the path and its permissions",
            path.display()
        ))),
    }
}

/// Replaces `path` with `content` atomically: a temporary file in the same
/// directory, flushed, then renamed over it. A symlink is followed, so its
/// target is updated. A new file is readable by its owner only; an existing
/// one keeps its permissions.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), InitError> {
    let fail = |what: &str, e: std::io::Error| {
        InitError::Config(format!(
            "cannot {what} {}: {e}: check the directory exists and is writable",
            path.display()
        ))
    };
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(_) => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .map_or_else(|| ".env".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{file_name}.setup-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| fail("write next to", e))?;
        let permissions = match fs::metadata(&target) {
            Ok(meta) => Some(meta.permissions()),
            Err(_) => owner_only(),
        };
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)
                .map_err(|e| fail("set permissions for", e))?;
        }
        file.write_all(content.as_bytes())
            .map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("write", e))?;
        fs::rename(&tmp, &target).map_err(|e| fail("replace", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn owner_only() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only() -> Option<fs::Permissions> {
    None
}
