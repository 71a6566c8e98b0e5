//! OpenAI's Responses API (`POST /v1/responses`), translated to and from
//! the OpenAI chat format the proxy routes, so any provider can serve it.
//! Pure functions on [`serde_json::Value`]; no I/O, no clock, no ids drawn
//! here, except in `api.rs`, which draws the response id and time, and
//! `keep.rs`, which reads and writes the stored responses.
//!
//! - `api.rs`: [`OpenAiResponses`], the API the server serves at `POST
//!   /v1/responses`.
//! - `request.rs`: [`chat_request`], the request → [`ChatRequest`];
//!   `input.rs` its input items, `tools.rs` its tools and the [`ToolMap`]
//!   that maps tool calls back.
//! - `response.rs`: [`response_object`], a chat completion → `response`.
//! - `stream.rs`: [`ToResponsesStream`], chat chunks → Responses events;
//!   `stream/calls.rs` its tool calls.
//! - `errors.rs`: the `error.code` of `response.failed`.
//! - `keep.rs`: stored responses: the conversation `previous_response_id`
//!   names ([`prior_items`]), and the answer kept ([`Keeper`]).
//! - `native.rs`: [`PassThrough`], the events of a provider that serves
//!   the Responses API natively, relayed as sent.
//! - `tests_request.rs`, `tests_tools.rs`, `tests_answer.rs`,
//!   `tests_stream.rs`: exact shapes.
//!
//! `docs/design/responses-api.md` has the mapping tables, the event
//! sequence and the Codex CLI findings behind them.

mod api;
mod errors;
mod input;
mod keep;
mod native;
mod request;
mod response;
mod stream;
mod tools;

#[cfg(test)]
mod tests_answer;
#[cfg(test)]
mod tests_request;
#[cfg(test)]
mod tests_stream;
#[cfg(test)]
mod tests_tools;

use serde_json::{Map, Value};

use crate::providers::{str_of, u64_of};

pub use api::{check_input, OpenAiResponses, Turn};
pub use errors::{
    failed_error, failure_code, with_retry_hint, CONTEXT_LENGTH_EXCEEDED, INSUFFICIENT_QUOTA,
    RATE_LIMIT_EXCEEDED, SERVER_ERROR,
};
pub use input::input_items;
pub use keep::{prior_items, Keeper, PREVIOUS_RESPONSE_NOT_FOUND};
pub use native::PassThrough;
pub use request::{chat_request, ChatRequest};
pub use response::response_object;
pub use stream::{sse_frame, Event, ToResponsesStream};
pub use tools::{flat_name, ClientTool, ToolKind, ToolMap};

/// Response header naming the built-in tools dropped from a request.
pub const DROPPED_TOOLS_HEADER: &str = "x-llm-key-proxy-dropped-tools";

/// What the answer side needs to build a `response`: the id and creation
/// time the route chose, the model as the client named it (with the
/// provider prefix), the tool map and the echoed request fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseContext {
    /// `resp_…`; item ids are derived from it.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    pub model: String,
    pub tools: ToolMap,
    pub echo: Map<String, Value>,
}

// === impl ResponseContext ===

impl ResponseContext {
    /// The id of output item `index` with a type prefix (`msg`, `fc`,
    /// `ctc`, `rs`, `call`): `resp_abc` → `msg_abc_0`. Unique within the
    /// response, and across responses as long as response ids are.
    pub fn item_id(&self, prefix: &str, index: usize) -> String {
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{prefix}_{base}_{index}")
    }
}

// === impl ChatRequest ===

impl ChatRequest {
    /// The answer-side context for this request.
    pub fn context(&self, id: &str, created_at: u64, model: &str) -> ResponseContext {
        ResponseContext {
            id: id.to_string(),
            created_at,
            model: model.to_string(),
            tools: self.tools.clone(),
            echo: self.echo.clone(),
        }
    }
}
