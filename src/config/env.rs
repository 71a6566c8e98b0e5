//! The environment, read through a small trait so tests pass a map instead of
//! mutating the process environment.
//!
//! The process environment is the union of `.env` (from the working
//! directory) and the real environment; the real environment wins.
//! [`ConfigSource`](super::ConfigSource) keeps the two apart, so that keys
//! added at runtime go to `.env` under names the real environment does not
//! override.

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
#[derive(Clone, Default)]
pub struct EnvMap(BTreeMap<String, String>);

// === impl EnvMap ===

impl EnvMap {
    /// Reads `dotenv_path` if it exists (a missing file is fine, a malformed
    /// one is an error naming the line), then the process environment on top.
    pub fn load(dotenv_path: &Path) -> Result<EnvMap, InitError> {
        let mut map = EnvMap::from_dotenv(dotenv_path)?;
        map.overlay(EnvMap::process());
        Ok(map)
    }

    /// The variables of `dotenv_path` alone; a missing file is empty.
    pub fn from_dotenv(dotenv_path: &Path) -> Result<EnvMap, InitError> {
        let mut map = BTreeMap::new();
        if dotenv_path.exists() {
            let iter = dotenvy::from_path_iter(dotenv_path).map_err(|e| {
                InitError::Config(format!(
                    "cannot read {}: {e}: fix the file or remove it",
                    dotenv_path.display()
                ))
            })?;
            for item in iter {
                let (name, value) = item.map_err(|e| malformed(dotenv_path, &e))?;
                map.insert(name, value);
            }
        }
        Ok(EnvMap(map))
    }

    /// The variables of a `.env` text (about to be written); a malformed
    /// text is an error that does not quote it.
    pub fn from_dotenv_text(text: &str) -> Result<EnvMap, InitError> {
        dotenvy::from_read_iter(text.as_bytes())
            .map(|item| {
                item.map_err(|_| {
                    InitError::Config(
                        "the new .env text is malformed: each line must be NAME=value with \
                         quotes closed"
                            .into(),
                    )
                })
            })
            .collect()
    }

    /// The real process environment. Non-UTF-8 variables cannot be
    /// provider keys; they are skipped.
    pub fn process() -> EnvMap {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    /// Puts every variable of `top` over this map's (the real environment
    /// wins over `.env`).
    pub fn overlay(&mut self, top: EnvMap) {
        self.0.extend(top.0);
    }
}

/// Describes a `.env` parse error without its text: dotenvy's message
/// quotes the whole line, which holds a secret.
fn malformed(path: &Path, error: &dotenvy::Error) -> InitError {
    let place = match error {
        dotenvy::Error::LineParse(text, _) => {
            let first = text.lines().next().unwrap_or_default();
            let content = std::fs::read_to_string(path).unwrap_or_default();
            content
                .lines()
                .enumerate()
                .find(|(_, line)| !first.is_empty() && line.contains(first))
                .map(|(i, line)| {
                    let name = line.split('=').next().unwrap_or_default().trim();
                    let name = name.strip_prefix("export ").unwrap_or(name).trim();
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if valid {
                        format!(" at line {} (`{name}`)", i + 1)
                    } else {
                        format!(" at line {}", i + 1)
                    }
                })
                .unwrap_or_default()
        }
        _ => String::new(),
    };
    InitError::Config(format!(
        "{} is malformed{place}: each line must be NAME=value, quotes closed, values with \
         spaces quoted",
        path.display()
    ))
}

impl std::fmt::Debug for EnvMap {
    /// Names only: the values hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
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
    fn malformed_lines_are_located_without_showing_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        for line in [
            "OPENAI_API_KEY=sk-live-SUPERSECRET abcdef",
            "OPENAI_API_KEY=\"sk-live-SUPERSECRET",
        ] {
            std::fs::write(&path, format!("GOOD=1\n{line}\n")).unwrap();
            let err = EnvMap::load(&path).unwrap_err().to_string();
            assert!(!err.contains("SUPERSECRET"), "{err}");
            assert!(
                err.contains("line 2") && err.contains("OPENAI_API_KEY"),
                "{err}"
            );
        }
        let env = EnvMap::from([("OPENAI_API_KEY", "sk-live-SUPERSECRET")]);
        assert!(!format!("{env:?}").contains("SUPERSECRET"));
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
