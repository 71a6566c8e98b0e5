//! The Responses API's stored responses, whichever store holds them:
//! [`StoredResponses`] is what the server reads them through (the
//! conversation a `previous_response_id` names, the routes in
//! [`routes`]) and the [`ResponseSink`] answers are kept through.
//!
//! The state database (sled) holds them; its calls are quick and
//! synchronous (sled serves them from memory and writes behind), behind
//! the same async front another store would need.

pub mod routes;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::inbound::ResponseSink;
use crate::store::{ChainError, ResponseStore, StoredResponse};

/// The stored responses of this proxy. Cheap to clone.
#[derive(Clone)]
pub struct StoredResponses {
    store: ResponseStore,
    /// The same store as the sink answers are kept through, made once.
    sink: Arc<dyn ResponseSink>,
}

// === impl StoredResponses ===

impl StoredResponses {
    pub fn new(store: ResponseStore) -> StoredResponses {
        StoredResponses {
            sink: Arc::new(store.clone()),
            store,
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
        self.store.chain(id, now)
    }

    /// The response stored as `id`, unless unknown or expired.
    pub async fn get(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredResponse>, String> {
        self.store.get(id, now)
    }

    /// The input items of the response stored as `id`.
    pub async fn input_items(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Value>>, String> {
        self.store.input_items(id, now)
    }

    /// Removes the response stored as `id`; false when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, String> {
        self.store.delete(id)
    }
}

impl ResponseSink for ResponseStore {
    fn keep(&self, id: &str, record: StoredResponse, now: DateTime<Utc>) {
        if let Err(e) = self.put(id, &record, now) {
            log::warn!("response {id} not stored: {e}");
        }
    }
}
