//! Inbound streaming: the OpenAI chunks of a routed request become the
//! Anthropic SSE events (`event:` name and JSON `data`) an Anthropic client
//! expects. The caller frames each pair as `event: …\ndata: …\n\n`.

use serde_json::{json, Value};

use super::response::{anthropic_usage, message_id, openai_error_message};
use super::{error_type, stop_reason, str_of};
use crate::inbound::chunk::ChunkParts;

/// Kind of the content block currently open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, by its OpenAI `index`.
    Tool(u64),
}

/// Converts one OpenAI chunk stream into Anthropic events:
/// `message_start`, then per content block `content_block_start`,
/// `content_block_delta`s and `content_block_stop`, and from
/// [`finish`](Self::finish) `message_delta` (stop reason and usage) and
/// `message_stop`. One block is open at a time: text or reasoning is
/// closed before a tool call opens, and each tool call index gets its own
/// block.
#[derive(Debug, Clone)]
pub struct ToAnthropicStream {
    model: String,
    id: String,
    started: bool,
    /// `finish` ran or an error was relayed: nothing more to emit.
    done: bool,
    next_block: u64,
    open: Option<(Block, u64)>,
    /// `(OpenAI tool call index, content block index)`.
    tools: Vec<(u64, u64)>,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

impl ToAnthropicStream {
    /// A converter whose events name `model` (the model the client asked for).
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            id: String::new(),
            started: false,
            done: false,
            next_block: 0,
            open: None,
            tools: Vec::new(),
            finish_reason: None,
            usage: None,
        }
    }

    /// The events for one OpenAI chunk. The first chunk also yields
    /// `message_start`; a `finish_reason` closes the open block (the stop
    /// reason is sent by [`finish`](Self::finish), once usage is known); a
    /// usage-only chunk yields nothing. An `{"error":…}` chunk yields one
    /// `error` event and ends the stream.
    pub fn events(&mut self, openai_chunk: &Value) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let parts = ChunkParts::of(openai_chunk);
        if let Some(error) = parts.error {
            self.done = true;
            out.push(("error", error_event(error)));
            return out;
        }
        self.start(str_of(openai_chunk, "id"), &mut out);
        if let Some(usage) = parts.usage {
            self.usage = Some(usage.clone());
        }
        if let Some(text) = parts.reasoning() {
            let index = self.open_block(Block::Thinking, &Value::Null, &mut out);
            out.push(block_delta(
                index,
                json!({ "type": "thinking_delta", "thinking": text }),
            ));
        }
        if let Some(text) = parts.text("content") {
            let index = self.open_block(Block::Text, &Value::Null, &mut out);
            out.push(block_delta(
                index,
                json!({ "type": "text_delta", "text": text }),
            ));
        }
        for (position, call) in parts.tool_calls().iter().enumerate() {
            self.tool_call_delta(position, call, &mut out);
        }
        if let Some(reason) = parts.finish_reason() {
            self.finish_reason = Some(reason.to_string());
            self.close(&mut out);
        }
        out
    }

    /// The closing events: `content_block_stop` for a block still open,
    /// `message_delta` with the stop reason and usage, and `message_stop`
    /// (after `message_start` if no chunk came). Nothing after an error or
    /// a second call.
    pub fn finish(&mut self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        self.start(None, &mut out);
        self.close(&mut out);
        let stop = stop_reason(self.finish_reason.as_deref(), !self.tools.is_empty());
        let usage = match &self.usage {
            Some(usage) => anthropic_usage(usage),
            None => json!({ "output_tokens": 0 }),
        };
        out.push((
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop, "stop_sequence": null },
                "usage": usage,
            }),
        ));
        out.push(("message_stop", json!({ "type": "message_stop" })));
        out
    }

    /// `message_start`, once.
    fn start(&mut self, openai_id: Option<&str>, out: &mut Vec<(&'static str, Value)>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = message_id(openai_id);
        out.push((
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": { "input_tokens": 0, "output_tokens": 0 },
                },
            }),
        ));
    }

    /// Makes `kind` the open block (closing another one) and returns its
    /// index. `call` is the OpenAI tool call that opens a tool block.
    fn open_block(
        &mut self,
        kind: Block,
        call: &Value,
        out: &mut Vec<(&'static str, Value)>,
    ) -> u64 {
        if let Some((open, index)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        let content_block = match kind {
            Block::Text => json!({ "type": "text", "text": "" }),
            Block::Thinking => json!({ "type": "thinking", "thinking": "", "signature": "" }),
            Block::Tool(tool) => {
                let function = call.get("function").unwrap_or(&Value::Null);
                let id = str_of(call, "id")
                    .map_or_else(|| format!("toolu_{}_{tool}", self.id), str::to_string);
                self.tools.push((tool, index));
                json!({
                    "type": "tool_use",
                    "id": id,
                    "name": str_of(function, "name").unwrap_or_default(),
                    "input": {},
                })
            }
        };
        out.push((
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": content_block }),
        ));
        self.open = Some((kind, index));
        index
    }

    fn tool_call_delta(
        &mut self,
        position: usize,
        call: &Value,
        out: &mut Vec<(&'static str, Value)>,
    ) {
        let tool = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        // A late delta for an earlier call goes to that call's block.
        let index = match self.tools.iter().find(|(t, _)| *t == tool) {
            Some(&(_, index)) => index,
            None => self.open_block(Block::Tool(tool), call, out),
        };
        let arguments = call
            .get("function")
            .and_then(|f| str_of(f, "arguments"))
            .filter(|a| !a.is_empty());
        if let Some(arguments) = arguments {
            out.push(block_delta(
                index,
                json!({ "type": "input_json_delta", "partial_json": arguments }),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<(&'static str, Value)>) {
        if let Some((_, index)) = self.open.take() {
            out.push((
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": index }),
            ));
        }
    }
}

fn block_delta(index: u64, delta: Value) -> (&'static str, Value) {
    (
        "content_block_delta",
        json!({ "type": "content_block_delta", "index": index, "delta": delta }),
    )
}

/// An Anthropic `error` event for an OpenAI `error` value. Its type is the
/// OpenAI `type` when Anthropic has it, else derived from a numeric
/// `code`/`status`, else `api_error`.
fn error_event(error: &Value) -> Value {
    const KNOWN: &[&str] = &[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    ];
    let status = ["code", "status"]
        .iter()
        .find_map(|key| match error.get(*key) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            _ => None,
        });
    let kind = match (str_of(error, "type"), status) {
        (Some(kind), _) if KNOWN.contains(&kind) => kind,
        (_, Some(status)) => u16::try_from(status).map_or("api_error", error_type),
        _ => "api_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": openai_error_message(error) } })
}
