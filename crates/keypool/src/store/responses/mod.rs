//! Stored Responses API responses: what `GET /v1/responses/{id}`,
//! `…/input_items`, `DELETE` and `previous_response_id` read.
//!
//! [`ResponseStore`] owns two trees of the state database:
//! - `responses`: `<id>` → [`StoredResponse`] as versioned JSON;
//! - `responses_by_age`: `<stored at, ms, 8 bytes big-endian><id>` → the
//!   record's size (8 bytes big-endian), the order for expiry and eviction.
//!
//! The store knows nothing of the Responses API: the response and its input
//! items are opaque JSON the route hands over. They are client content
//! only; nothing here takes a key (this module does not use the `secret`
//! module, and a test holds it to that).
//!
//! Bounds ([`ResponseLimits`]): a record older than the TTL is gone (read as
//! absent and removed when met; [`ResponseStore::purge_expired`] removes a
//! bounded batch, and every `put` runs it); a record larger than the
//! per-response cap is refused ([`PutError::TooLarge`]); past the total cap
//! the oldest records are evicted to make room for the new one.
//!
//! Durability: written behind, like usage. A record reaches the disk with
//! the database's next flush (sled's own, every few hundred milliseconds,
//! or the key pool's sync) and at shutdown; it is never synced alone.
//!
//! The open trees live in the database's [`StoreLocation`], not in the
//! handle: sled lets go of its file lock only once every tree of a
//! database is dropped, so [`Store::reopen`] (after a failed write) first
//! takes them away from every `ResponseStore`, then gives them the trees of
//! the new database. In between, calls fail with a storage error.
//!
//! [`StoreLocation`]: super::StoreLocation

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Store, Versioned, RECORD_VERSION};
use record::{age_key, decode_i64, decode_u64, expired, Entry, InputOnly};
pub use record::{
    is_valid_id, ChainError, PutError, ResponseLimits, StoredResponse, ID_PREFIX, MAX_CHAIN,
    MAX_ID_LEN,
};

mod record;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

/// Expired records removed per [`ResponseStore::purge_expired`] call, so a
/// request never pays for a backlog at once.
const PURGE_BATCH: usize = 64;

/// What a call gets while the database is being opened again.
const NOT_OPEN: &str = "the state database is being opened again after a failed write";

/// Stored responses, sharing the state database (see the module docs).
/// Cheap to clone.
#[derive(Clone)]
pub struct ResponseStore {
    slot: Slot,
    limits: ResponseLimits,
}

/// Where the response trees of a database live; shared by its
/// [`super::StoreLocation`] and every [`ResponseStore`].
pub(super) type Slot = Arc<Mutex<SlotState>>;

#[derive(Default)]
pub(super) struct SlotState {
    /// A `ResponseStore` was made: a reopened database opens the trees
    /// again.
    wanted: bool,
    trees: Option<Trees>,
}

impl std::fmt::Debug for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotState")
            .field("wanted", &self.wanted)
            .field("open", &self.trees.is_some())
            .finish()
    }
}

/// The open trees and the bytes of all records. Held locked by every call,
/// so puts, deletes and evictions keep the total exact.
struct Trees {
    records: sled::Tree,
    by_age: sled::Tree,
    total: u64,
}

// === impl Store ===

impl Store {
    /// The stored responses of this database, bounded by `limits`.
    pub fn responses(&self, limits: ResponseLimits) -> Result<ResponseStore, String> {
        let slot = self.location.responses.clone();
        let mut state = lock(&slot);
        if state.trees.is_none() {
            state.trees = Some(Trees::open(&self.db)?);
        }
        state.wanted = true;
        drop(state);
        Ok(ResponseStore { slot, limits })
    }
}

/// Drops the trees of a database about to be opened again.
pub(super) fn release(slot: &Slot) {
    lock(slot).trees = None;
}

/// Gives the response stores the trees of a database opened again.
pub(super) fn attach(slot: &Slot, db: &sled::Db) -> Result<(), String> {
    let mut state = lock(slot);
    if state.wanted && state.trees.is_none() {
        state.trees = Some(Trees::open(db)?);
    }
    Ok(())
}

fn lock(slot: &Slot) -> MutexGuard<'_, SlotState> {
    // A panic while holding it leaves a usable state: the total is only
    // updated after the write it counts.
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

// === impl ResponseStore ===

impl ResponseStore {
    /// Stores `record` under `id` at `now`, replacing one of the same id,
    /// evicting the oldest records past the total cap.
    pub fn put(
        &self,
        id: &str,
        record: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), PutError> {
        if !is_valid_id(id) {
            return Err(PutError::InvalidId);
        }
        let stored_at_ms = now.timestamp_millis();
        let entry = Versioned {
            v: RECORD_VERSION,
            data: Entry {
                stored_at_ms,
                record,
            },
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| PutError::Storage(e.to_string()))?;
        let size = bytes.len() as u64;
        let limits = self.limits;
        let max = limits.max_response_bytes.min(limits.max_total_bytes);
        if size > max {
            return Err(PutError::TooLarge { bytes: size, max });
        }
        self.with(|trees| {
            trees.remove(id)?;
            trees.purge(&limits, now)?;
            while trees.total + size > limits.max_total_bytes {
                let Some((key, held)) = trees.by_age.first().map_err(|e| e.to_string())? else {
                    break;
                };
                trees.remove_indexed(&key, &held)?;
            }
            trees.insert(id, stored_at_ms, &bytes)
        })
        .map_err(PutError::Storage)
    }

    /// The record stored under `id`, unless unknown or expired at `now` (an
    /// expired one is removed).
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Result<Option<StoredResponse>, String> {
        let entry = self.read::<Entry<StoredResponse>>(id, now, |e| e.stored_at_ms)?;
        Ok(entry.map(|entry| entry.record))
    }

    /// The input items of the record stored under `id` (see [`Self::get`]).
    pub fn input_items(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Vec<Value>>, String> {
        let entry = self.read::<InputOnly>(id, now, |e| e.stored_at_ms)?;
        Ok(entry.map(|entry| entry.input))
    }

    /// The record under `id` and every one it continued, oldest first: the
    /// conversation `previous_response_id: id` continues.
    pub fn chain(&self, id: &str, now: DateTime<Utc>) -> Result<Vec<StoredResponse>, ChainError> {
        let mut chain = Vec::new();
        let mut next = Some(id.to_string());
        while let Some(id) = next {
            if chain.len() == MAX_CHAIN {
                return Err(ChainError::TooLong);
            }
            let Some(record) = self.get(&id, now).map_err(ChainError::Storage)? else {
                return Err(match chain.is_empty() {
                    true => ChainError::NotFound(id),
                    false => ChainError::Broken { missing: id },
                });
            };
            next = record.previous_response_id.clone();
            chain.push(record);
        }
        chain.reverse();
        Ok(chain)
    }

    /// Removes the record under `id`; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, String> {
        if !is_valid_id(id) {
            return Ok(false);
        }
        self.with(|trees| trees.remove(id))
    }

    /// Removes up to a bounded batch of records expired at `now`, oldest
    /// first; how many were removed. For a periodic sweep (every `put`
    /// runs it too).
    pub fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let limits = self.limits;
        self.with(|trees| trees.purge(&limits, now))
    }

    /// Bytes of all records (0 while the database is being opened again).
    pub fn total_bytes(&self) -> u64 {
        self.with(|trees| Ok(trees.total)).unwrap_or(0)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Trees) -> Result<T, String>) -> Result<T, String> {
        match lock(&self.slot).trees.as_mut() {
            Some(trees) => f(trees),
            None => Err(NOT_OPEN.to_string()),
        }
    }

    /// Reads and decodes the record under `id`, removing it when expired.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        now: DateTime<Utc>,
        stored_at_ms: impl Fn(&T) -> i64,
    ) -> Result<Option<T>, String> {
        if !is_valid_id(id) {
            return Ok(None);
        }
        let limits = self.limits;
        self.with(|trees| {
            let Some(bytes) = trees
                .records
                .get(id.as_bytes())
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let entry = match serde_json::from_slice::<Versioned<T>>(&bytes) {
                Ok(entry) if entry.v == RECORD_VERSION => entry.data,
                _ => {
                    log::warn!("skipping a stored response of an unknown format");
                    return Ok(None);
                }
            };
            if expired(&limits, stored_at_ms(&entry), now) {
                trees.remove(id)?;
                return Ok(None);
            }
            Ok(Some(entry))
        })
    }
}

// === impl Trees ===

impl Trees {
    /// Opens the trees and counts the bytes they hold.
    fn open(db: &sled::Db) -> Result<Trees, String> {
        let records = db.open_tree("responses").map_err(|e| e.to_string())?;
        let by_age = db
            .open_tree("responses_by_age")
            .map_err(|e| e.to_string())?;
        let mut total = 0u64;
        for size in by_age.iter().values() {
            let size = size.map_err(|e| e.to_string())?;
            total = total.saturating_add(decode_u64(&size));
        }
        Ok(Trees {
            records,
            by_age,
            total,
        })
    }

    fn insert(&mut self, id: &str, stored_at_ms: i64, bytes: &[u8]) -> Result<(), String> {
        let size = bytes.len() as u64;
        let age_key = age_key(stored_at_ms, id);
        (&self.records, &self.by_age)
            .transaction(|(records, by_age)| {
                records.insert(id.as_bytes(), bytes)?;
                by_age.insert(age_key.as_slice(), &size.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.total = self.total.saturating_add(size);
        Ok(())
    }

    fn purge(&mut self, limits: &ResponseLimits, now: DateTime<Utc>) -> Result<usize, String> {
        let mut removed = 0;
        while removed < PURGE_BATCH {
            let Some((key, size)) = self.by_age.first().map_err(|e| e.to_string())? else {
                break;
            };
            if !expired(limits, decode_i64(&key), now) {
                break;
            }
            self.remove_indexed(&key, &size)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes the record under `id` and its index entry; false when there
    /// was none.
    fn remove(&mut self, id: &str) -> Result<bool, String> {
        let Some(bytes) = self.records.get(id.as_bytes()).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        let stored_at = serde_json::from_slice::<Versioned<InputOnly>>(&bytes)
            .map(|e| e.data.stored_at_ms)
            .ok();
        let key = stored_at.map(|at| age_key(at, id));
        let size = match &key {
            Some(key) => self.by_age.get(key).map_err(|e| e.to_string())?,
            None => None,
        };
        (&self.records, &self.by_age)
            .transaction(|(records, by_age)| {
                records.remove(id.as_bytes())?;
                if let Some(key) = &key {
                    by_age.remove(key.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.total = self
            .total
            .saturating_sub(size.map_or(0, |s| decode_u64(&s)));
        Ok(true)
    }

    /// Removes the record an index entry names.
    fn remove_indexed(&mut self, key: &[u8], size: &[u8]) -> Result<(), String> {
        let id = key.get(8..).unwrap_or_default();
        (&self.records, &self.by_age)
            .transaction(|(records, by_age)| {
                records.remove(id)?;
                by_age.remove(key)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        self.total = self.total.saturating_sub(decode_u64(size));
        Ok(())
    }
}

fn transaction_error(e: TransactionError<()>) -> String {
    match e {
        TransactionError::Storage(e) => e.to_string(),
        TransactionError::Abort(()) => "transaction aborted".to_string(),
    }
}
