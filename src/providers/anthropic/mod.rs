//! Anthropic's Messages API wire format, converted to and from the OpenAI
//! Chat Completions format the proxy speaks internally. Pure functions on
//! [`serde_json::Value`]; no I/O and no other project dependencies.
//!
//! Two directions:
//!
//! - **Outbound** (the proxy calls Anthropic for an OpenAI-speaking client):
//!   [`messages_request`], [`chat_response`], [`ToOpenAiStream`],
//!   [`model_ids`], [`count_tokens_request`], [`count_tokens_response`].
//! - **Inbound** (an Anthropic-speaking client calls the proxy's
//!   `POST /v1/messages`): [`openai_request_from_messages`],
//!   [`messages_response`], [`ToAnthropicStream`], [`error_body`].
//!
//! Files: this one owns the constants and the mappings both directions
//! share (stop reasons, error types).
//!
//! - `request_out.rs`: OpenAI request → Anthropic body; `messages_out.rs`
//!   its messages and content blocks.
//! - `response_out.rs`: Anthropic answers → OpenAI.
//! - `stream_out.rs`: Anthropic SSE events → OpenAI chunks.
//! - `request_in.rs`: Anthropic request → OpenAI request; `request_check.rs`
//!   the field types it checks first.
//! - `response_in.rs`: OpenAI answer → Anthropic message; error bodies.
//! - `stream_in.rs`: OpenAI chunks → Anthropic SSE events.
//! - `rate_limits.rs`: the `anthropic-ratelimit-*-reset` retry hint.
//! - `tests_out.rs`, `tests_in.rs`, `tests_stream.rs`: tests on the
//!   fixtures in `tests/fixtures/anthropic/`.

mod messages_out;
pub mod rate_limits;
mod request_check;
mod request_in;
mod request_out;
mod response_in;
mod response_out;
mod stream_in;
mod stream_out;
mod wire;

/// A fixture file of `tests/fixtures/anthropic/`, as a `&'static str`.
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/anthropic/",
            $name
        ))
    };
}

#[cfg(test)]
mod tests_in;
#[cfg(test)]
mod tests_out;
#[cfg(test)]
mod tests_stream;

pub use request_in::openai_request_from_messages;
pub use request_out::{count_tokens_request, messages_request};
pub use response_in::{error_body, messages_response};
pub use response_out::{chat_response, count_tokens_response, model_ids};
pub use stream_in::ToAnthropicStream;
pub use stream_out::ToOpenAiStream;
pub use wire::AnthropicFormat;

/// Default `max_tokens` when the OpenAI request has none (Anthropic
/// requires it).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Value of the `anthropic-version` header every request must carry.
pub const API_VERSION: &str = "2023-06-01";

/// Messages path below the provider's base URL
/// (`https://api.anthropic.com/v1`).
pub const MESSAGES_PATH: &str = "/messages";
/// Token counting path below the base URL.
pub const COUNT_TOKENS_PATH: &str = "/messages/count_tokens";
/// Models list path below the base URL.
pub const MODELS_PATH: &str = "/models";

/// Anthropic error `type` for an HTTP status: 400 `invalid_request_error`,
/// 401 `authentication_error`, 403 `permission_error`, 404
/// `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`,
/// 503/504/529 `overloaded_error`, other 5xx `api_error`, other 4xx
/// `invalid_request_error`.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 504 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`. `has_tool_calls`:
/// the answer carries tool calls (some providers say `stop` then).
fn stop_reason(finish_reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ if has_tool_calls => "tool_use",
        _ => "end_turn",
    }
}

/// `value[key]` as a string slice.
fn str_of<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// `value[key]` as a number, 0 when absent.
fn u64_of(value: &serde_json::Value, key: &str) -> u64 {
    value
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Helpers shared by the test files.
#[cfg(test)]
mod testing {
    use serde_json::Value;

    pub fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// `(event name, data)` of each SSE event in a recorded stream;
    /// `[DONE]` is skipped.
    pub fn sse_events(text: &str) -> Vec<(Option<String>, Value)> {
        let mut out = Vec::new();
        for record in text.split("\n\n").filter(|r| !r.trim().is_empty()) {
            let mut name = None;
            let mut data = None;
            for line in record.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d);
                }
            }
            let data = data.unwrap();
            if data != "[DONE]" {
                out.push((name, parse(data)));
            }
        }
        out
    }
}
