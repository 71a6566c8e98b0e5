//! The Responses API's stored responses in Redis, so that every replica
//! can continue, fetch and delete any replica's responses: the same
//! records and bounds as the state database's
//! ([`crate::store::ResponseStore`]), kept by three scripts (`lua/
//! responses_*.lua`), each one round trip on Redis's clock.
//!
//! Names (one hash tag, so the scripts work on Redis Cluster):
//! `<namespace>:{responses}:r:<id>` the record (JSON, expiring with the
//! time to live), `…:age` ids by when stored (zset), `…:size` bytes per id
//! (hash), `…:total` bytes of all records, `…:prev` the response each one
//! continued (hash), which `chain` follows on the server.
//!
//! Records hold client content only, never a key. A call that fails or
//! times out (the backend's bound) is a storage error: the request is
//! answered anyway, and the replica goes degraded like for any operation.

use std::sync::Arc;

use redis::Script;
use serde_json::Value;

use super::SharedState;
use crate::store::{
    is_valid_response_id, ChainError, PutError, ResponseLimits, StoredResponse,
    MAX_RESPONSE_CHAIN as MAX_CHAIN,
};

/// The stored responses in the shared state. Cheap to clone.
#[derive(Clone)]
pub struct RedisResponses {
    state: Arc<SharedState>,
    limits: ResponseLimits,
    scripts: Arc<ResponseScripts>,
    base: String,
}

struct ResponseScripts {
    put: Script,
    chain: Script,
    delete: Script,
}

/// What a failed call says.
const UNANSWERED: &str = "the shared state (Redis) did not answer";

// === impl RedisResponses ===

impl RedisResponses {
    pub fn new(state: Arc<SharedState>, limits: ResponseLimits) -> RedisResponses {
        let base = state.responses_prefix();
        RedisResponses {
            state,
            limits,
            scripts: Arc::new(ResponseScripts {
                put: Script::new(include_str!("lua/responses_put.lua")),
                chain: Script::new(include_str!("lua/responses_chain.lua")),
                delete: Script::new(include_str!("lua/responses_delete.lua")),
            }),
            base,
        }
    }

    fn record(&self, id: &str) -> String {
        format!("{}:r:{id}", self.base)
    }

    fn bookkeeping(&self) -> [String; 4] {
        ["age", "size", "total", "prev"].map(|name| format!("{}:{name}", self.base))
    }

    /// Stores `record` as `id`, evicting the oldest past the total bound.
    pub async fn put(&self, id: &str, record: &StoredResponse) -> Result<(), PutError> {
        if !is_valid_response_id(id) {
            return Err(PutError::InvalidId);
        }
        let bytes = serde_json::to_string(record).map_err(|e| PutError::Storage(e.to_string()))?;
        let size = bytes.len() as u64;
        let max = self
            .limits
            .max_response_bytes
            .min(self.limits.max_total_bytes);
        if size > max {
            return Err(PutError::TooLarge { bytes: size, max });
        }
        let [age, sizes, total, prev] = self.bookkeeping();
        let (record_key, prefix) = (self.record(id), format!("{}:r:", self.base));
        let ttl_ms = u64::try_from(self.limits.ttl.as_millis()).unwrap_or(u64::MAX);
        let previous = record.previous_response_id.clone().unwrap_or_default();
        let script = &self.scripts.put;
        let (bytes, previous) = (&bytes, &previous);
        let (record_key, age, sizes, total, prev, prefix) =
            (&record_key, &age, &sizes, &total, &prev, &prefix);
        let max_total = self.limits.max_total_bytes;
        let stored: Option<(i64, i64)> = self
            .state
            .run("responses", |mut conn| async move {
                let mut call = script.prepare_invoke();
                call.key(record_key)
                    .key(age)
                    .key(sizes)
                    .key(total)
                    .key(prev);
                call.arg(id)
                    .arg(bytes)
                    .arg(ttl_ms)
                    .arg(max_total)
                    .arg(prefix)
                    .arg(previous);
                call.invoke_async(&mut conn).await
            })
            .await;
        match stored {
            Some(_) => Ok(()),
            None => Err(PutError::Storage(UNANSWERED.into())),
        }
    }

    /// The record stored as `id`, unless unknown or expired.
    pub async fn get(&self, id: &str) -> Result<Option<StoredResponse>, String> {
        if !is_valid_response_id(id) {
            return Ok(None);
        }
        let key = &self.record(id);
        let text: Option<String> = self
            .state
            .run("responses", |mut conn| async move {
                redis::cmd("GET").arg(key).query_async(&mut conn).await
            })
            .await
            .ok_or_else(|| UNANSWERED.to_string())?;
        text.map(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .transpose()
    }

    /// The input items of the record stored as `id`.
    pub async fn input_items(&self, id: &str) -> Result<Option<Vec<Value>>, String> {
        Ok(self.get(id).await?.map(|record| record.input))
    }

    /// The record `id` and every one it continued, oldest first.
    pub async fn chain(&self, id: &str) -> Result<Vec<StoredResponse>, ChainError> {
        if !is_valid_response_id(id) {
            return Err(ChainError::NotFound(id.to_string()));
        }
        let [_, _, _, prev] = self.bookkeeping();
        let prefix = &format!("{}:r:", self.base);
        let (prev, script) = (&prev, &self.scripts.chain);
        let found: Vec<Option<String>> = self
            .state
            .run("responses", |mut conn| async move {
                let mut call = script.prepare_invoke();
                call.key(prev).arg(id).arg(prefix).arg(MAX_CHAIN);
                call.invoke_async(&mut conn).await
            })
            .await
            .ok_or_else(|| ChainError::Storage(UNANSWERED.into()))?;
        if found.is_empty() {
            return Err(ChainError::TooLong);
        }
        let mut chain = Vec::with_capacity(found.len() / 2);
        let pairs: Vec<&[Option<String>]> = found.chunks(2).collect();
        let newest = pairs.len().saturating_sub(1);
        for (at, pair) in pairs.into_iter().enumerate() {
            let (Some(Some(member)), record) = (pair.first(), pair.get(1).cloned().flatten())
            else {
                return Err(ChainError::Storage("a malformed chain reply".into()));
            };
            let Some(record) = record else {
                return Err(match at == newest {
                    true => ChainError::NotFound(member.clone()),
                    false => ChainError::Broken {
                        missing: member.clone(),
                    },
                });
            };
            let record =
                serde_json::from_str(&record).map_err(|e| ChainError::Storage(e.to_string()))?;
            chain.push(record);
        }
        Ok(chain)
    }

    /// Removes the record stored as `id`; false when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, String> {
        if !is_valid_response_id(id) {
            return Ok(false);
        }
        let [age, sizes, total, prev] = self.bookkeeping();
        let key = &self.record(id);
        let (age, sizes, total, prev, script) = (&age, &sizes, &total, &prev, &self.scripts.delete);
        let present: Option<i64> = self
            .state
            .run("responses", |mut conn| async move {
                let mut call = script.prepare_invoke();
                call.key(key)
                    .key(age)
                    .key(sizes)
                    .key(total)
                    .key(prev)
                    .arg(id);
                call.invoke_async(&mut conn).await
            })
            .await;
        present
            .map(|n| n == 1)
            .ok_or_else(|| UNANSWERED.to_string())
    }
}
