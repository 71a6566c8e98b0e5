//! The environment, read through a small trait so tests pass a map instead of
//! mutating the process environment.
//!
//! The process environment is the union of `.env` (from the working
//! directory) and the real environment; the real environment wins.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::InitError;

/// Read access to environment variables.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
    /// Every variable, sorted by name.
    fn vars(&self) -> Vec<(String, String)>;
}

/// A snapshot of `.env` overlaid with the process environment.
#[derive(Clone, Debug, Default)]
pub struct EnvMap(BTreeMap<String, String>);

// === impl EnvMap ===

impl EnvMap {
    /// Reads `dotenv_path` if it exists (a missing file is fine, a malformed
    /// one is an error naming the line), then the process environment on top.
    pub fn load(dotenv_path: &Path) -> Result<EnvMap, InitError> {
        let mut map = BTreeMap::new();
        if dotenv_path.exists() {
            let iter = dotenvy::from_path_iter(dotenv_path).map_err(|e| {
                InitError::Config(format!(
                    "cannot read {}: {e}: fix the file or remove it",
                    dotenv_path.display()
                ))
            })?;
            for item in iter {
                let (name, value) = item.map_err(|e| {
                    InitError::Config(format!(
                        "{} is malformed: {e}: each line must be NAME=value",
                        dotenv_path.display()
                    ))
                })?;
                map.insert(name, value);
            }
        }
        // Non-UTF-8 variables cannot be provider keys; skip them.
        for (name, value) in std::env::vars_os() {
            if let (Ok(name), Ok(value)) = (name.into_string(), value.into_string()) {
                map.insert(name, value);
            }
        }
        Ok(EnvMap(map))
    }
}

impl<const N: usize> From<[(&str, &str); N]> for EnvMap {
    fn from(pairs: [(&str, &str); N]) -> EnvMap {
        EnvMap(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl FromIterator<(String, String)> for EnvMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> EnvMap {
        EnvMap(iter.into_iter().collect())
    }
}

impl Env for EnvMap {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn dotenv_is_read_and_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        assert!(EnvMap::load(&path).is_ok());
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "LKP_TEST_ONLY_IN_DOTENV=\"from-file\"").unwrap();
        let env = EnvMap::load(&path).unwrap();
        assert_eq!(
            env.get("LKP_TEST_ONLY_IN_DOTENV").as_deref(),
            Some("from-file")
        );
    }

    #[test]
    fn real_environment_wins_over_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        // PATH is always set in the real environment.
        std::fs::write(&path, "PATH=from-dotenv\n").unwrap();
        let env = EnvMap::load(&path).unwrap();
        assert_ne!(env.get("PATH").as_deref(), Some("from-dotenv"));
    }
}
