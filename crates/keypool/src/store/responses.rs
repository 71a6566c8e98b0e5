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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Store, Versioned, RECORD_VERSION};

/// Prefix of the proxy's response ids.
pub const ID_PREFIX: &str = "resp_";

/// Longest accepted id: the proxy's own are `resp_` and 32 hex digits; a
/// client-supplied id is a database key, so a longer one is refused rather
/// than looked up.
pub const MAX_ID_LEN: usize = 96;

/// Expired records removed per [`ResponseStore::purge_expired`] call, so a
/// request never pays for a backlog at once.
const PURGE_BATCH: usize = 64;

/// Longest `previous_response_id` chain [`ResponseStore::chain`] follows.
pub const MAX_CHAIN: usize = 1_000;

/// How long and how much is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseLimits {
    /// A record older than this is gone.
    pub ttl: Duration,
    /// A record (response and input, as stored) larger than this is not
    /// stored.
    pub max_response_bytes: u64,
    /// All records together; the oldest are evicted past it.
    pub max_total_bytes: u64,
}

impl Default for ResponseLimits {
    /// 30 days, 4 MiB per response, 256 MiB in all.
    fn default() -> ResponseLimits {
        ResponseLimits {
            ttl: Duration::from_secs(30 * 24 * 3600),
            max_response_bytes: 4 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One stored response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredResponse {
    /// The response's `created_at` (Unix seconds).
    pub created_at: i64,
    /// The response this one continued: its input and output come before
    /// this one's input (see [`ResponseStore::chain`]).
    pub previous_response_id: Option<String>,
    /// The `response` object as sent to the client.
    pub response: Value,
    /// This request's own input items (not the earlier ones of its chain).
    pub input: Vec<Value>,
}

/// A record as written: the response plus when it was stored (the TTL runs
/// from there).
#[derive(Serialize, Deserialize)]
struct Entry<R> {
    stored_at_ms: i64,
    #[serde(flatten)]
    record: R,
}

/// The part of a record `input_items` needs.
#[derive(Deserialize)]
struct InputOnly {
    stored_at_ms: i64,
    #[serde(default)]
    input: Vec<Value>,
}

/// Why a response was not stored (one line for the route's log).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PutError {
    #[error(
        "invalid response id: expected `resp_` and up to {MAX_ID_LEN} letters, digits, `_` or `-`"
    )]
    InvalidId,
    #[error(
        "the response takes {bytes} bytes, more than the {max} bytes a stored response may take"
    )]
    TooLarge { bytes: u64, max: u64 },
    #[error("cannot store the response: {0}")]
    Storage(String),
}

/// Why a `previous_response_id` chain cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// The response asked for is unknown, deleted or expired.
    #[error("response `{0}` not found")]
    NotFound(String),
    /// An earlier response of the chain is gone (deleted, expired or
    /// evicted), so the conversation cannot be rebuilt.
    #[error("response `{missing}`, earlier in the conversation, is no longer stored")]
    Broken { missing: String },
    #[error("the conversation is longer than {MAX_CHAIN} responses")]
    TooLong,
    #[error("cannot read stored responses: {0}")]
    Storage(String),
}

/// Stored responses, sharing the state database. Cheap to clone; create one
/// per process ([`Store::responses`]) and clone it, since the running total
/// lives in the handle.
#[derive(Clone)]
pub struct ResponseStore {
    records: sled::Tree,
    by_age: sled::Tree,
    limits: ResponseLimits,
    /// Bytes of all records; held while writing, so puts, deletes and
    /// evictions keep it exact.
    total: Arc<Mutex<u64>>,
}

// === impl Store ===

impl Store {
    /// The stored responses of this database, bounded by `limits`.
    pub fn responses(&self, limits: ResponseLimits) -> Result<ResponseStore, String> {
        let records = self.db.open_tree("responses").map_err(|e| e.to_string())?;
        let by_age = self
            .db
            .open_tree("responses_by_age")
            .map_err(|e| e.to_string())?;
        let mut total = 0u64;
        for entry in by_age.iter().values() {
            let size = entry.map_err(|e| e.to_string())?;
            total = total.saturating_add(decode_u64(&size));
        }
        Ok(ResponseStore {
            records,
            by_age,
            limits,
            total: Arc::new(Mutex::new(total)),
        })
    }
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
        let bytes = serde_json::to_vec(&Versioned {
            v: RECORD_VERSION,
            data: Entry {
                stored_at_ms,
                record,
            },
        })
        .map_err(|e| PutError::Storage(e.to_string()))?;
        let size = bytes.len() as u64;
        let max = self
            .limits
            .max_response_bytes
            .min(self.limits.max_total_bytes);
        if size > max {
            return Err(PutError::TooLarge { bytes: size, max });
        }
        let mut total = self.lock();
        self.remove_locked(id, &mut total)
            .map_err(PutError::Storage)?;
        self.purge_locked(now, &mut total)
            .map_err(PutError::Storage)?;
        while *total + size > self.limits.max_total_bytes {
            let Some(oldest) = self
                .by_age
                .first()
                .map_err(|e| PutError::Storage(e.to_string()))?
            else {
                break;
            };
            self.remove_indexed(&oldest.0, &oldest.1, &mut total)
                .map_err(PutError::Storage)?;
        }
        let age_key = age_key(stored_at_ms, id);
        (&self.records, &self.by_age)
            .transaction(|(records, by_age)| {
                records.insert(id.as_bytes(), bytes.as_slice())?;
                by_age.insert(age_key.as_slice(), &size.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| PutError::Storage(transaction_error(e)))?;
        *total += size;
        Ok(())
    }

    /// The record stored under `id`, unless unknown or expired at `now` (an
    /// expired one is removed).
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Result<Option<StoredResponse>, String> {
        Ok(self
            .read::<Entry<StoredResponse>>(id, now, |e| e.stored_at_ms)?
            .map(|entry| entry.record))
    }

    /// The input items of the record stored under `id` (see [`Self::get`]).
    pub fn input_items(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Vec<Value>>, String> {
        Ok(self
            .read::<InputOnly>(id, now, |e| e.stored_at_ms)?
            .map(|entry| entry.input))
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
        let mut total = self.lock();
        self.remove_locked(id, &mut total)
    }

    /// Removes up to a bounded batch of records expired at `now`, oldest
    /// first; how many were removed. For a periodic sweep (every `put`
    /// runs it too).
    pub fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let mut total = self.lock();
        self.purge_locked(now, &mut total)
    }

    /// Bytes of all records.
    pub fn total_bytes(&self) -> u64 {
        *self.lock()
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
        let Some(bytes) = self.records.get(id.as_bytes()).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let entry = match serde_json::from_slice::<Versioned<T>>(&bytes) {
            Ok(entry) if entry.v == RECORD_VERSION => entry.data,
            _ => {
                log::warn!("skipping a stored response of an unknown format");
                return Ok(None);
            }
        };
        if self.expired(stored_at_ms(&entry), now) {
            let mut total = self.lock();
            self.remove_locked(id, &mut total)?;
            return Ok(None);
        }
        Ok(Some(entry))
    }

    fn expired(&self, stored_at_ms: i64, now: DateTime<Utc>) -> bool {
        let ttl_ms = i64::try_from(self.limits.ttl.as_millis()).unwrap_or(i64::MAX);
        now.timestamp_millis() >= stored_at_ms.saturating_add(ttl_ms)
    }

    fn purge_locked(&self, now: DateTime<Utc>, total: &mut u64) -> Result<usize, String> {
        let mut removed = 0;
        while removed < PURGE_BATCH {
            let Some((key, size)) = self.by_age.first().map_err(|e| e.to_string())? else {
                break;
            };
            if !self.expired(decode_i64(&key), now) {
                break;
            }
            self.remove_indexed(&key, &size, total)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes the record under `id` and its index entry.
    fn remove_locked(&self, id: &str, total: &mut u64) -> Result<bool, String> {
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
        *total = total.saturating_sub(size.map_or(0, |s| decode_u64(&s)));
        Ok(true)
    }

    /// Removes the record an index entry names.
    fn remove_indexed(&self, key: &[u8], size: &[u8], total: &mut u64) -> Result<(), String> {
        let id = key.get(8..).unwrap_or_default();
        (&self.records, &self.by_age)
            .transaction(|(records, by_age)| {
                records.remove(id)?;
                by_age.remove(key)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_error)?;
        *total = total.saturating_sub(decode_u64(size));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A panic while holding it leaves a number, still usable.
        self.total.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `resp_` followed by 1 to [`MAX_ID_LEN`] − 5 ASCII letters, digits, `_`
/// or `-`.
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= MAX_ID_LEN
        && id.strip_prefix(ID_PREFIX).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fn age_key(stored_at_ms: i64, id: &str) -> Vec<u8> {
    // Times before 1970 sort first too; none are expected.
    let mut key = u64::try_from(stored_at_ms)
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

fn decode_u64(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn decode_i64(key: &[u8]) -> i64 {
    i64::try_from(decode_u64(key)).unwrap_or(i64::MAX)
}

fn transaction_error(e: TransactionError<()>) -> String {
    match e {
        TransactionError::Storage(e) => e.to_string(),
        TransactionError::Abort(()) => "transaction aborted".to_string(),
    }
}
