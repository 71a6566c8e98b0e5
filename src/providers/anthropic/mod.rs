//! Anthropic's Messages API wire format, converted to and from the OpenAI
//! Chat Completions format the proxy speaks internally. Pure functions on
//! [`serde_json::Value`]; no I/O.
//!
//! This is the outbound direction: the proxy calls Anthropic for an
//! OpenAI-speaking client ([`messages_request`], [`chat_response`],
//! [`ToOpenAiStream`], [`model_ids`], [`count_tokens_request`],
//! [`count_tokens_response`]). The inbound direction, Anthropic-speaking
//! clients calling the proxy, is [`crate::inbound::anthropic`].
//!
//! Files: this one owns the constants and the mappings both directions
//! share (stop reasons, field access).
//!
//! - `request_out.rs`: OpenAI request → Anthropic body; `messages_out.rs`
//!   its messages and content blocks.
//! - `response_out.rs`: Anthropic answers → OpenAI.
//! - `stream_out.rs`: Anthropic SSE events → OpenAI chunks.
//! - `rate_limits.rs`: the `anthropic-ratelimit-*-reset` retry hint.
//! - `tests_out.rs`, `tests_stream.rs`: tests on the fixtures in
//!   `tests/fixtures/anthropic/`.

mod messages_out;
pub mod rate_limits;
mod request_out;
mod response_out;
mod stream_out;
mod wire;

use super::{str_of, u64_of};

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
mod tests_out;
#[cfg(test)]
mod tests_stream;

pub use request_out::{count_tokens_request, messages_request};
pub use response_out::{chat_response, count_tokens_response, model_ids};
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

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// Helpers shared by the test files.
#[cfg(test)]
pub(crate) mod testing {
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
