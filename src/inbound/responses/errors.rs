//! Failures after a stream began: the `error` of a `response.failed` event,
//! with a code clients act on. (Before the first event a failure is an HTTP
//! status with OpenAI's `{"error":{…}}` envelope, the same as for chat.)
//!
//! Codex reads `response.failed` like this: `context_length_exceeded` and
//! `insufficient_quota` end the turn with that reason; any other code is
//! retried, after the delay of a `try again in N s` in the message when the
//! code is `rate_limit_exceeded`.

use serde_json::{json, Value};

use super::str_of;

/// A rate limit: the client waits and retries.
pub const RATE_LIMIT_EXCEEDED: &str = "rate_limit_exceeded";
/// A spent quota or budget: retrying soon does not help.
pub const INSUFFICIENT_QUOTA: &str = "insufficient_quota";
/// The conversation is too long for the model.
pub const CONTEXT_LENGTH_EXCEEDED: &str = "context_length_exceeded";
/// Anything else (a cut stream, a provider fault).
pub const SERVER_ERROR: &str = "server_error";

/// The wait a rate-limited stream's `response.failed` asks for when the
/// provider named none: short, because the client's retry comes back to
/// the proxy, which answers it with another key (or waits for one itself,
/// or refuses it with a 429 and `Retry-After` before any event).
pub const RETRY_SOON_SECS: u64 = 1;

/// The `response.failed` error for an OpenAI-style `error` value (the
/// `{"error":…}` event the relay sends when a stream breaks): its code one
/// of the four above, its message the provider's — for a rate limit, with
/// `Please try again in N s.` unless it says when already.
pub fn failed_error(error: &Value) -> Value {
    let message = str_of(error, "message")
        .or_else(|| error.as_str())
        .map_or_else(|| error.to_string(), str::to_string);
    let code = failure_code(error);
    let message = match code {
        RATE_LIMIT_EXCEEDED => with_retry_hint(&message, RETRY_SOON_SECS),
        _ => message,
    };
    json!({ "code": code, "message": message })
}

/// The code clients act on for an OpenAI-style `error` value, judged from
/// its `code`, `type` and message.
pub fn failure_code(error: &Value) -> &'static str {
    let mut text = String::new();
    for key in ["code", "type", "status"] {
        match error.get(key) {
            Some(Value::String(s)) => text.push_str(s),
            Some(Value::Number(n)) => text.push_str(&n.to_string()),
            _ => {}
        }
        text.push(' ');
    }
    text.push_str(str_of(error, "message").unwrap_or_default());
    let text = text.to_ascii_lowercase();
    if text.contains("context_length") || text.contains("context length") {
        CONTEXT_LENGTH_EXCEEDED
    } else if text.contains("insufficient_quota") || text.contains("quota") {
        INSUFFICIENT_QUOTA
    } else if text.contains("rate_limit") || text.contains("rate limit") || text.contains("429") {
        RATE_LIMIT_EXCEEDED
    } else {
        SERVER_ERROR
    }
}

/// `message` with `Please try again in N s.` appended unless it already
/// says when: the form Codex reads its retry delay from.
pub fn with_retry_hint(message: &str, retry_after_secs: u64) -> String {
    if message.to_ascii_lowercase().contains("try again in") {
        return message.to_string();
    }
    let message = message.trim_end();
    let sep = if message.is_empty() || message.ends_with('.') {
        " "
    } else {
        ". "
    };
    format!("{message}{sep}Please try again in {retry_after_secs}s.")
        .trim_start()
        .to_string()
}
