//! The Responses API's stored responses, whichever store holds them:
//! [`StoredResponses`] is what the server reads them through (the
//! conversation a `previous_response_id` names, the routes in
//! [`routes`]) and the [`ResponseSink`] answers are kept through.
//!
//! - With sled (one replica), the state database holds them; its calls are
//!   quick and synchronous (sled serves them from memory and writes
//!   behind).
//! - With Redis (several replicas), Redis holds them, so any replica
//!   continues, fetches or deletes any replica's responses. An answer is
//!   kept by a task of its own, off the request's path; a Redis that does
//!   not answer loses that record (logged), never the answer.

pub mod routes;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::inbound::ResponseSink;
use crate::shared_state::{RedisResponses, SharedState};
use crate::store::{ChainError, ResponseLimits, ResponseStore, StoredResponse};

/// The stored responses of this proxy. Cheap to clone.
#[derive(Clone)]
pub struct StoredResponses {
    backend: Backend,
    /// The same store as the sink answers are kept through, made once.
    sink: Arc<dyn ResponseSink>,
}

#[derive(Clone)]
enum Backend {
    Sled(ResponseStore),
    Redis(RedisResponses),
}

// === impl StoredResponses ===

impl StoredResponses {
    /// In the state database.
    pub fn new(store: ResponseStore) -> StoredResponses {
        StoredResponses {
            sink: Arc::new(store.clone()),
            backend: Backend::Sled(store),
        }
    }

    /// In the Redis the replicas share.
    pub fn in_redis(state: Arc<SharedState>, limits: ResponseLimits) -> StoredResponses {
        let redis = RedisResponses::new(state, limits);
        StoredResponses {
            sink: Arc::new(RedisSink(redis.clone())),
            backend: Backend::Redis(redis),
        }
    }

    /// Where answers are kept.
    pub fn sink(&self) -> &Arc<dyn ResponseSink> {
        &self.sink
    }

    /// The response `id` and every one it continued, oldest first.
    pub async fn chain(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredResponse>, ChainError> {
        match &self.backend {
            Backend::Sled(store) => store.chain(id, now),
            Backend::Redis(redis) => redis.chain(id).await,
        }
    }

    /// The response stored as `id`, unless unknown or expired.
    pub async fn get(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredResponse>, String> {
        match &self.backend {
            Backend::Sled(store) => store.get(id, now),
            Backend::Redis(redis) => redis.get(id).await,
        }
    }

    /// The input items of the response stored as `id`.
    pub async fn input_items(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Value>>, String> {
        match &self.backend {
            Backend::Sled(store) => store.input_items(id, now),
            Backend::Redis(redis) => redis.input_items(id).await,
        }
    }

    /// Removes the response stored as `id`; false when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, String> {
        match &self.backend {
            Backend::Sled(store) => store.delete(id),
            Backend::Redis(redis) => redis.delete(id).await,
        }
    }
}

impl ResponseSink for ResponseStore {
    fn keep(&self, id: &str, record: StoredResponse, now: DateTime<Utc>) {
        if let Err(e) = self.put(id, &record, now) {
            log::warn!("response {id} not stored: {e}");
        }
    }
}

/// Keeps answers in Redis from a task of their own (Redis's clock times
/// them).
struct RedisSink(RedisResponses);

impl ResponseSink for RedisSink {
    fn keep(&self, id: &str, record: StoredResponse, _now: DateTime<Utc>) {
        let (redis, id) = (self.0.clone(), id.to_string());
        actix_rt::spawn(async move {
            if let Err(e) = redis.put(&id, &record).await {
                log::warn!("response {id} not stored: {e}");
            }
        });
    }
}
