//! Durable state in sled.
//!
//! `Store` owns the database in the data directory. Records are JSON with a
//! version field (`{"v":1,…}`) so later releases can migrate them; keys are
//! identified by [`KeyId`], never the raw key. `layout_tests` freezes the
//! layout: a renamed field fails them instead of loading as zero.
//!
//! Trees:
//! - `models`: `<provider>\0<key id>\0<model>` → [`ModelRecord`] (usage,
//!   cooldown, failure counter);
//! - `keys`: `<provider>\0<key id>` → [`KeyRecord`] (lockout);
//! - `meta`: `daily_reset_last` → RFC 3339 time of the last daily reset;
//!   `generation` → the number of the last explicit flush (see
//!   `generation`);
//! - `history`: `<provider>\0<hour>` → [`HourCounts`] (see `history`);
//! - `responses`, `responses_by_age`: stored Responses API responses (see
//!   [`responses`]).
//!
//! A database that cannot be opened is moved aside (kept for inspection)
//! and a fresh one is started; one that opens but lost records is kept,
//! with a copy of its damaged files and a loud log line; one locked by a
//! running proxy, or on a full disk, is an error and left alone.
//!
//! sled refuses every write once one failed (a full disk): the pool then
//! drops its `Store` and opens another with [`Store::reopen`] until one
//! works.

mod error;
mod generation;
mod history;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod layout_tests;
mod open;
mod records;
pub mod responses;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::secret::KeyId;
pub use error::OpenError;
use generation::Generation;
pub use history::HourCounts;
pub use open::is_disk_full;
pub use records::{KeyRecord, ModelRecord};
pub use responses::{
    is_valid_id as is_valid_response_id, ChainError, PutError, ResponseLimits, ResponseStore,
    StoredResponse, MAX_CHAIN as MAX_RESPONSE_CHAIN,
};

/// Current version of every record.
const RECORD_VERSION: u32 = 1;

/// Name of the database directory inside the data directory.
const DB_DIR: &str = "state.sled";

const LAST_RESET: &str = "daily_reset_last";

/// The sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    models: sled::Tree,
    keys: sled::Tree,
    meta: sled::Tree,
    history: sled::Tree,
    location: StoreLocation,
    /// This handle refuses writes, like sled after a failed one (test
    /// seam, see [`StoreLocation::inject_disk_full`]).
    poisoned: Arc<AtomicBool>,
}

/// Where a store lives, to open it again after a write failed.
#[derive(Clone, Debug)]
pub struct StoreLocation {
    path: PathBuf,
    generation: Arc<Generation>,
    /// Test seam: writes fail as on a full disk while set.
    disk_full: Arc<AtomicBool>,
    /// The trees of [`ResponseStore`]s, swapped by [`Store::reopen`].
    responses: responses::Slot,
}

/// The error an injected full disk gives.
const INJECTED_DISK_FULL: &str = "No space left on device (os error 28; injected by a test)";

/// Identifies one key's record for one model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelKey {
    pub provider: String,
    pub key_id: KeyId,
    pub model: String,
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the database under `data_dir`, moving an
    /// unreadable one aside; see `open::open_checked`.
    pub fn open(data_dir: &Path) -> Result<Store, OpenError> {
        let path = db_path(data_dir);
        let opened = open::open_checked(data_dir, &path)?;
        let location = StoreLocation {
            generation: Arc::new(Generation::new(&path, opened.generation)),
            path,
            disk_full: Arc::default(),
            responses: Arc::default(),
        };
        let store = Store::with_trees(opened.db, location).map_err(|e| OpenError::DataDir {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        if opened.lost {
            // Save the generation now, so the loss is reported once.
            if let Err(e) = store.flush() {
                log::error!("cannot save the state database: {e}");
            }
        }
        Ok(store)
    }

    /// Opens the database at `location` again (see the module docs).
    pub fn reopen(location: &StoreLocation) -> Result<Store, String> {
        if location.disk_full.load(Ordering::Relaxed) {
            return Err(INJECTED_DISK_FULL.to_string());
        }
        // sled lets go of the file lock only once every tree is dropped.
        responses::release(&location.responses);
        let db = open::reopen(&location.path)?;
        let store = Store::with_trees(db, location.clone()).map_err(|e| e.to_string())?;
        responses::attach(&location.responses, &store.db)?;
        let held = store.meta.get(generation::META_KEY).ok().flatten();
        location
            .generation
            .raise_to(generation::decode(held.as_deref()));
        Ok(store)
    }

    fn with_trees(db: sled::Db, location: StoreLocation) -> sled::Result<Store> {
        Ok(Store {
            models: db.open_tree("models")?,
            keys: db.open_tree("keys")?,
            meta: db.open_tree("meta")?,
            history: db.open_tree("history")?,
            db,
            location,
            poisoned: Arc::default(),
        })
    }

    /// Fails while a full disk is injected, and ever after on this handle.
    fn check(&self) -> Result<(), String> {
        if self.location.disk_full.load(Ordering::Relaxed) {
            self.poisoned.store(true, Ordering::Relaxed);
        }
        match self.poisoned.load(Ordering::Relaxed) {
            true => Err(INJECTED_DISK_FULL.to_string()),
            false => Ok(()),
        }
    }

    /// Where this store lives.
    pub fn location(&self) -> StoreLocation {
        self.location.clone()
    }

    /// Every model record; unreadable ones are skipped with a warning.
    pub fn load_models(&self) -> Vec<(ModelKey, ModelRecord)> {
        load(&self.models, |parts| match parts {
            [provider, key_id, model] => Some(ModelKey {
                provider: provider.to_string(),
                key_id: KeyId::from_stored(key_id),
                model: model.to_string(),
            }),
            _ => None,
        })
    }

    /// Every key record, by `(provider, key id)`.
    pub fn load_keys(&self) -> Vec<((String, KeyId), KeyRecord)> {
        load(&self.keys, |parts| match parts {
            [provider, key_id] => Some((provider.to_string(), KeyId::from_stored(key_id))),
            _ => None,
        })
    }

    pub fn save_model(&self, key: &ModelKey, record: &ModelRecord) -> Result<(), String> {
        self.check()?;
        let id = format!("{}\0{}\0{}", key.provider, key.key_id, key.model);
        save(&self.models, id, record)
    }

    /// Deletes a record evicted from memory (see `keypool::records`).
    pub fn remove_model(&self, key: &ModelKey) -> Result<(), String> {
        self.check()?;
        let id = format!("{}\0{}\0{}", key.provider, key.key_id, key.model);
        self.models
            .remove(id.into_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn save_key(
        &self,
        provider: &str,
        key_id: &KeyId,
        record: &KeyRecord,
    ) -> Result<(), String> {
        self.check()?;
        save(&self.keys, format!("{provider}\0{key_id}"), record)
    }

    /// When the daily reset last ran, if ever.
    pub fn last_reset(&self) -> Option<DateTime<Utc>> {
        let raw = self.meta.get(LAST_RESET).ok()??;
        let text = std::str::from_utf8(&raw).ok()?;
        DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
    }

    pub fn set_last_reset(&self, at: DateTime<Utc>) -> Result<(), String> {
        self.check()?;
        self.meta
            .insert(LAST_RESET, at.to_rfc3339().into_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Forces everything written so far to disk, blocking.
    pub fn flush(&self) -> Result<(), String> {
        let generation = self.next_generation()?;
        self.db.flush().map_err(|e| e.to_string())?;
        self.location.generation.mirror(generation);
        Ok(())
    }

    /// The same, on sled's own threads: the returned future resolves once
    /// the writes are durable, without blocking the caller's thread.
    pub fn flush_async(&self) -> impl Future<Output = Result<(), String>> + 'static {
        let db = self.db.clone();
        let location = self.location.clone();
        let generation = self.next_generation();
        async move {
            let generation = generation?;
            db.flush_async().await.map_err(|e| e.to_string())?;
            // The side file is a file write: off the caller's thread (the
            // key pool's, which never blocks on disk). It only ever names
            // a generation already on disk, so it may land a little later.
            let mirror = move || location.generation.mirror(generation);
            drop(actix_rt::task::spawn_blocking(mirror));
            Ok(())
        }
    }

    /// Writes the number of the flush about to start (see [`generation`]).
    fn next_generation(&self) -> Result<u64, String> {
        self.check()?;
        let generation = self.location.generation.bump();
        self.meta
            .insert(generation::META_KEY, &generation.to_be_bytes())
            .map_err(|e| e.to_string())?;
        Ok(generation)
    }
}

impl StoreLocation {
    /// Test seam: while `on`, every write fails as on a full disk, and a
    /// store that saw it refuses writes until opened again (like sled).
    #[cfg(test)]
    pub(crate) fn inject_disk_full(&self, on: bool) {
        self.disk_full.store(on, Ordering::Relaxed);
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_DIR)
}

#[derive(Serialize, serde::Deserialize)]
struct Versioned<T> {
    v: u32,
    #[serde(flatten)]
    data: T,
}

fn save<T: Serialize>(tree: &sled::Tree, id: String, record: &T) -> Result<(), String> {
    let record = Versioned {
        v: RECORD_VERSION,
        data: record,
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
    tree.insert(id.into_bytes(), bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn load<K, T: DeserializeOwned>(
    tree: &sled::Tree,
    parse: impl Fn(&[&str]) -> Option<K>,
) -> Vec<(K, T)> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let Ok((id, value)) = item else {
            log::warn!("skipping an unreadable record");
            continue;
        };
        let id = String::from_utf8_lossy(&id).into_owned();
        let parts: Vec<&str> = id.split('\0').collect();
        match (
            parse(&parts),
            serde_json::from_slice::<Versioned<T>>(&value),
        ) {
            (Some(k), Ok(rec)) if rec.v == RECORD_VERSION => out.push((k, rec.data)),
            _ => log::warn!("skipping a record of an unknown format"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn model_key(raw: &str) -> ModelKey {
        ModelKey {
            provider: "openai".into(),
            key_id: Secret::new(raw).id(),
            model: "gpt-4o/mini".into(),
        }
    }

    #[test]
    fn records_round_trip_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = model_key("sk-abcdefghijklmnop");
        let mut record = ModelRecord::default();
        record.usage.daily.requests = 3;
        record.usage.lifetime.prompt_tokens = 42;
        record.consecutive_failures = 2;
        record.cooldown_until = Some(Utc::now());
        let lock = KeyRecord {
            locked_until: Some(Utc::now()),
            lockouts: 1,
            ..KeyRecord::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-11-24T03:00:00Z")
            .unwrap()
            .to_utc();
        {
            let store = Store::open(dir.path()).unwrap();
            store.save_model(&key, &record).unwrap();
            store.save_key("openai", &key.key_id, &lock).unwrap();
            store.set_last_reset(at).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_models(), vec![(key.clone(), record)]);
        assert_eq!(
            store.load_keys(),
            vec![(("openai".to_string(), key.key_id), lock)]
        );
        assert_eq!(store.last_reset(), Some(at));
    }

    #[test]
    fn records_are_versioned_and_hold_no_raw_key() {
        let dir = tempfile::tempdir().unwrap();
        let raw = "sk-raw-secret-never-on-disk";
        let store = Store::open(dir.path()).unwrap();
        store
            .save_model(&model_key(raw), &ModelRecord::default())
            .unwrap();
        let (k, v) = store.models.iter().next().unwrap().unwrap();
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
