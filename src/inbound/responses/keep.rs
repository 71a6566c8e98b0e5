//! Stored responses on the translated path: the conversation a
//! `previous_response_id` names, as items before the request's input
//! ([`prior_items`]), and the answer kept once it is complete ([`Keeper`]).
//!
//! The server looks the conversation up and keeps answers, in whichever
//! store holds them ([`ResponseSink`](crate::inbound::ResponseSink)); the
//! store knows nothing of the API. Here is what a stored response holds:
//! the `response` object as the client got it, this request's own input
//! items (each with an `id`, for `GET /v1/responses/{id}/input_items`), and
//! the response it continued.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::ApiError;
use crate::inbound::ResponseSink;
use crate::store::{ChainError, StoredResponse};

/// OpenAI's `code` for a `previous_response_id` that names no stored
/// response; clients recover on it (by sending the whole conversation).
pub const PREVIOUS_RESPONSE_NOT_FOUND: &str = "previous_response_not_found";

/// The input and output items of the conversation that ends with response
/// `id`, oldest first: what comes before the new request's input.
/// `chain` is what the server found: the stored responses of that
/// conversation, oldest first (`None` where no responses are stored).
/// Instructions are not among the items (each request's are its own, as
/// with OpenAI).
pub fn prior_items(
    id: &str,
    chain: Option<&Result<Vec<StoredResponse>, ChainError>>,
) -> Result<Vec<Value>, ApiError> {
    let chain = match chain {
        None => {
            return Err(not_found(format!(
                "Previous response with id '{id}' not found: this proxy keeps no responses \
                 (its state store is not available), so send the whole conversation in `input`"
            )))
        }
        Some(Ok(chain)) => chain,
        Some(Err(ChainError::NotFound(_))) => {
            return Err(not_found(format!(
                "Previous response with id '{id}' not found: it was never stored (sent with \
                 `store: false`, or answered by another proxy or a provider directly), or it \
                 expired or was deleted; send the whole conversation in `input` instead"
            )))
        }
        Some(Err(ChainError::Broken { missing })) => {
            return Err(not_found(format!(
                "Previous response with id '{id}' cannot be continued: response '{missing}', \
                 earlier in its conversation, expired or was deleted; send the whole \
                 conversation in `input` instead"
            )))
        }
        Some(Err(e @ ChainError::TooLong)) => {
            return Err(ApiError::invalid_param(
                e.to_string(),
                "previous_response_id",
            ))
        }
        Some(Err(ChainError::Storage(why))) => {
            log::error!("stored responses cannot be read: {why}");
            return Err(ApiError::Unavailable("the stored responses cannot be read"));
        }
    };
    let mut items = Vec::new();
    for record in chain {
        items.extend(record.input.iter().cloned());
        if let Some(Value::Array(output)) = record.response.get("output") {
            items.extend(output.iter().cloned());
        }
    }
    Ok(items)
}

fn not_found(message: String) -> ApiError {
    ApiError::InvalidRequest {
        message,
        param: Some("previous_response_id"),
        code: Some(PREVIOUS_RESPONSE_NOT_FOUND),
    }
}

/// Keeps one request's answer, unless the request said `store: false`.
pub struct Keeper {
    sink: Arc<dyn ResponseSink>,
    id: String,
    previous_response_id: Option<String>,
    input: Vec<Value>,
    now: DateTime<Utc>,
}

// === impl Keeper ===

impl Keeper {
    /// The keeper of response `id`, whose request's own input is `input`
    /// (ids are given to the items that have none: `in_<id>_<index>`).
    pub fn new(
        sink: Arc<dyn ResponseSink>,
        id: &str,
        previous_response_id: Option<String>,
        mut input: Vec<Value>,
        now: DateTime<Utc>,
    ) -> Keeper {
        let base = id.strip_prefix("resp_").unwrap_or(id);
        for (index, item) in input.iter_mut().enumerate() {
            if let Some(item) = item.as_object_mut() {
                item.entry("id")
                    .or_insert_with(|| format!("in_{base}_{index}").into());
            }
        }
        Keeper {
            sink,
            id: id.to_string(),
            previous_response_id,
            input,
            now,
        }
    }

    /// Stores `response` (the object the client got) with the request's
    /// input. A response too large to keep, or a store that fails, is
    /// logged by the sink: the client has its answer either way, and a
    /// later `previous_response_id` says it is not found.
    pub fn keep(self, response: &Value) {
        let record = StoredResponse {
            created_at: response["created_at"].as_i64().unwrap_or_default(),
            previous_response_id: self.previous_response_id,
            response: response.clone(),
            input: self.input,
        };
        self.sink.keep(&self.id, record, self.now);
    }
}
