//! Google Gemini's native API (`generativelanguage.googleapis.com/v1beta`):
//! pure converters between it and the OpenAI wire format. No I/O here.
//!
//! This module owns the Gemini side of a call: the URL paths below the
//! base (`/models/{model}:generateContent` and friends), the request bodies
//! built from OpenAI chat, embeddings and token-count requests, and the
//! rewriting of Gemini answers, stream events, errors and model lists into
//! their OpenAI shapes. Authentication, retries and key rotation stay with
//! the caller.
//!
//! - OpenAI request → Gemini path and body: [`chat_request`] with
//!   [`chat_path`], [`embeddings_request`], [`count_tokens_request`]
//!   (in `request.rs`).
//! - Gemini answer → OpenAI answer: [`chat_response`], [`StreamState`],
//!   [`embeddings_response`] (in `response.rs`), [`count_tokens_response`],
//!   [`model_ids`], and [`api_error`] for `{"error": ...}` bodies.
//! - Gemini's retry hint, `RetryInfo.retryDelay`: [`retry_info`].

use std::fmt;

use serde_json::Value;

mod request;
mod response;
pub mod retry_info;
#[cfg(test)]
mod tests_request;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may read the wall clock
mod tests_response;
mod tools;
mod wire;

pub use request::{chat_request, count_tokens_request, embeddings_request};
pub use response::{chat_response, embeddings_response, StreamState};
pub use wire::GeminiFormat;

/// URL path below the base for a chat call: `/models/{model}:generateContent`,
/// or `/models/{model}:streamGenerateContent?alt=sse` for a stream.
pub fn chat_path(model: &str, stream: bool) -> String {
    let model = bare_model(model);
    if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    }
}

/// Whether `model` (without `models/`) can be one segment of a Gemini URL
/// (`/models/{model}:generateContent`): letters, digits, `.`, `_` and `-`,
/// never `..`. Anything else could change the path or the query that the
/// pool's key is sent to, so it is refused instead of encoded: no Gemini
/// model id needs more (`gemini-2.5-flash`, `gemini-embedding-001`).
pub fn check_model_segment(model: &str) -> Result<(), String> {
    const ALLOWED: &str = "Gemini model ids are letters, digits, `.`, `_` and `-`, e.g. \
                           \"gemini/gemini-2.5-flash\"";
    if model.is_empty() {
        return Err(format!("the model id is empty: {ALLOWED}"));
    }
    if let Some(bad) = model
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        let bad = crate::error::describe_char(bad);
        return Err(format!(
            "model \"{model}\" contains {bad}, which cannot be sent to Gemini: {ALLOWED}"
        ));
    }
    if model.contains("..") {
        return Err(format!(
            "model \"{model}\" contains `..`, which cannot be sent to Gemini: {ALLOWED}"
        ));
    }
    Ok(())
}

/// Reads `totalTokens` of a `countTokens` answer.
pub fn count_tokens_response(gemini: &Value) -> Option<u64> {
    gemini.get("totalTokens").and_then(Value::as_u64)
}

/// Model ids of a `GET /models` answer, without the `models/` prefix
/// (`"models/gemini-2.5-flash"` → `"gemini-2.5-flash"`), in upstream order.
pub fn model_ids(gemini: &Value) -> Vec<String> {
    gemini
        .get("models")
        .and_then(Value::as_array)
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m.get("name").and_then(Value::as_str))
                .map(|name| bare_model(name).to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// An `{"error": {...}}` answer from Gemini.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code carried in the body (`429`).
    pub code: u64,
    /// gRPC status name (`"RESOURCE_EXHAUSTED"`), empty when absent.
    pub status: String,
    /// Human-readable message.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gemini error {}", self.code)?;
        if !self.status.is_empty() {
            write!(f, " {}", self.status)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads a Gemini error body (also the one-element array form some
/// endpoints use). `None` when `gemini` is not an error.
pub fn api_error(gemini: &Value) -> Option<ApiError> {
    let body = match gemini {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let error = body.get("error")?.as_object()?;
    let text = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(ApiError {
        code: error.get("code").and_then(Value::as_u64).unwrap_or(0),
        status: text("status"),
        message: text("message"),
    })
}

/// A model name without a leading `models/`.
fn bare_model(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}
