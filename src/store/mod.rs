//! Durable state in sled.
//!
//! `Store` owns the database in the data directory. Records are JSON with a
//! version field (`{"v":1,…}`) so later releases can migrate them; keys are
//! identified by [`KeyId`], never the raw key.
//!
//! Layout: tree `usage`, key `<provider>\0<key id>\0<model>`, value a
//! versioned [`Usage`] record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::InitError;
use crate::keypool::state::Usage;
use crate::secret::KeyId;

/// Current version of the usage record.
const USAGE_VERSION: u32 = 1;

/// sled writes its log to disk at least this often; together with the
/// pool's write-behind interval this bounds how much usage a crash loses.
const SLED_FLUSH_EVERY_MS: u64 = 500;

/// Name of the database directory inside the data directory.
const DB_DIR: &str = "state.sled";

/// The sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    usage: sled::Tree,
}

/// Identifies one usage record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UsageKey {
    pub provider: String,
    pub key_id: KeyId,
    pub model: String,
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    v: u32,
    #[serde(flatten)]
    data: T,
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the database under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, InitError> {
        let fail = |reason: String| InitError::DataDir {
            path: data_dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
        let db = sled::Config::new()
            .path(db_path(data_dir))
            .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
            .open()
            .map_err(|e| fail(e.to_string()))?;
        let usage = db.open_tree("usage").map_err(|e| fail(e.to_string()))?;
        Ok(Store { db, usage })
    }

    /// Every usage record; unreadable ones are skipped with a warning.
    pub fn load_usage(&self) -> Vec<(UsageKey, Usage)> {
        let mut out = Vec::new();
        for item in self.usage.iter() {
            let Ok((key, value)) = item else {
                log::warn!("skipping an unreadable usage record");
                continue;
            };
            match (
                parse_usage_key(&key),
                serde_json::from_slice::<Versioned<Usage>>(&value),
            ) {
                (Some(k), Ok(rec)) if rec.v == USAGE_VERSION => out.push((k, rec.data)),
                _ => log::warn!("skipping a usage record of an unknown format"),
            }
        }
        out
    }

    pub fn save_usage(&self, key: &UsageKey, usage: &Usage) -> Result<(), String> {
        let record = Versioned {
            v: USAGE_VERSION,
            data: *usage,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        self.usage
            .insert(usage_key_bytes(key), bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Forces everything written so far to disk.
    pub fn flush(&self) -> Result<(), String> {
        self.db.flush().map(|_| ()).map_err(|e| e.to_string())
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_DIR)
}

fn usage_key_bytes(key: &UsageKey) -> Vec<u8> {
    format!("{}\0{}\0{}", key.provider, key.key_id, key.model).into_bytes()
}

fn parse_usage_key(bytes: &[u8]) -> Option<UsageKey> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\0');
    let provider = parts.next()?.to_string();
    let key_id = parts.next()?;
    let model = parts.next()?.to_string();
    Some(UsageKey {
        provider,
        key_id: KeyId::from_stored(key_id),
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn usage_round_trips_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = UsageKey {
            provider: "openai".into(),
            key_id: Secret::new("sk-abcdefghijklmnop").id(),
            model: "gpt-4o/mini".into(),
        };
        let mut usage = Usage::default();
        usage.daily.requests = 3;
        usage.lifetime.prompt_tokens = 42;
        {
            let store = Store::open(dir.path()).unwrap();
            store.save_usage(&key, &usage).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_usage(), vec![(key, usage)]);
    }

    #[test]
    fn records_are_versioned_and_hold_no_raw_key() {
        let dir = tempfile::tempdir().unwrap();
        let raw = "sk-raw-secret-never-on-disk";
        let store = Store::open(dir.path()).unwrap();
        let key = UsageKey {
            provider: "groq".into(),
            key_id: Secret::new(raw).id(),
            model: "llama".into(),
        };
        store.save_usage(&key, &Usage::default()).unwrap();
        let (k, v) = store.usage.iter().next().unwrap().unwrap();
        assert!(String::from_utf8_lossy(&v).starts_with("{\"v\":1"));
        assert!(!String::from_utf8_lossy(&k).contains(raw));
    }

    #[test]
    fn unusable_data_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = Store::open(&file).err().unwrap().to_string();
        assert!(err.contains("--data-dir"), "{err}");
    }
}
