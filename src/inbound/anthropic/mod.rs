//! Anthropic's Messages API as a client-facing API: Anthropic-API clients
//! (Claude Code, the `anthropic` SDK) call `POST /v1/messages` for a model
//! of any provider.
//!
//! A request is translated into OpenAI chat, rotated through the keys like
//! any chat request, and the answer translated back: JSON, or the event
//! stream `message_start` → `content_block_*` → `message_delta` →
//! `message_stop`. Failures use Anthropic's error envelope and a non-200
//! status — never a 200 with empty content. The proxy key may come in
//! `x-api-key`, as Anthropic clients send it.
//!
//! Pure functions on [`serde_json::Value`] (the opposite direction, the
//! proxy calling Anthropic, is [`crate::providers::anthropic`]):
//!
//! - `api.rs`: [`AnthropicMessages`], the API the server serves.
//! - `request.rs`: Anthropic request → OpenAI request; `request_check.rs`
//!   the field types it checks first.
//! - `response.rs`: OpenAI answer → Anthropic message; error bodies.
//! - `stream.rs`: OpenAI chunks → Anthropic SSE events.
//! - `tests.rs`, `tests_stream.rs`: tests on the fixtures in
//!   `tests/fixtures/anthropic/`.

mod api;
mod request;
mod request_check;
mod response;
mod stream;

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
mod tests;
#[cfg(test)]
mod tests_stream;

pub use api::{require_provider_prefix, AnthropicMessages};
pub use request::openai_request_from_messages;
pub use response::{error_body, messages_response};
pub use stream::ToAnthropicStream;

use crate::providers::{str_of, u64_of};

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
