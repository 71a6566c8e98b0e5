//! Outbound streaming: Anthropic SSE events (the JSON `data` of each event;
//! its `type` says which event it is) become OpenAI `chat.completion.chunk`
//! objects. The caller frames them as `data:` lines and adds `[DONE]`.

use serde_json::{json, Map, Value};

use super::response_out::{error_message, openai_usage};
use super::{finish_reason, str_of};

/// Converts one Anthropic stream into OpenAI chunks. Remembers the message
/// id and model from `message_start`, which content block is which tool
/// call, and the usage reported so far.
#[derive(Debug, Clone)]
pub struct ToOpenAiStream {
    id: String,
    model: String,
    created: u64,
    /// `(Anthropic content block index, OpenAI tool call index)`.
    tool_calls: Vec<(u64, usize)>,
    /// Anthropic usage fields merged from `message_start` and
    /// `message_delta`.
    usage: Map<String, Value>,
}

impl ToOpenAiStream {
    /// A converter for a stream; `created` becomes every chunk's `created`.
    pub fn new(created: u64) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            tool_calls: Vec::new(),
            usage: Map::new(),
        }
    }

    /// The OpenAI chunks for one Anthropic event (often none).
    ///
    /// `message_start` gives the role chunk; text, thinking and tool input
    /// deltas give `content`, `reasoning_content` and `tool_calls` deltas;
    /// `message_delta` gives a `finish_reason` chunk then a usage-only chunk
    /// (`"choices": []`). `ping`, `content_block_stop` and `message_stop`
    /// give nothing. An `error` event gives `{"error":{"message","type"}}`.
    pub fn chunks(&mut self, event: &Value) -> Vec<Value> {
        match str_of(event, "type") {
            Some("message_start") => {
                let message = event.get("message").unwrap_or(&Value::Null);
                self.id = str_of(message, "id").unwrap_or_default().to_string();
                self.model = str_of(message, "model").unwrap_or_default().to_string();
                self.merge_usage(message.get("usage"));
                vec![self.chunk(json!({ "role": "assistant", "content": "" }), None)]
            }
            Some("content_block_start") => self.block_start(event),
            Some("content_block_delta") => self.block_delta(event),
            Some("message_delta") => {
                self.merge_usage(event.get("usage"));
                let mut out = Vec::new();
                let stop = event.get("delta").and_then(|d| str_of(d, "stop_reason"));
                if let Some(stop) = stop {
                    out.push(self.chunk(json!({}), Some(finish_reason(stop))));
                }
                out.push(json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": openai_usage(&Value::Object(self.usage.clone())),
                }));
                out
            }
            Some("error") => {
                let kind = event
                    .get("error")
                    .and_then(|e| str_of(e, "type"))
                    .unwrap_or("api_error");
                vec![json!({ "error": { "message": error_message(event), "type": kind } })]
            }
            // ping, content_block_stop, message_stop, anything newer.
            _ => Vec::new(),
        }
    }

    fn block_start(&mut self, event: &Value) -> Vec<Value> {
        let block = event.get("content_block").unwrap_or(&Value::Null);
        match str_of(block, "type") {
            Some("text") => match str_of(block, "text") {
                Some(text) if !text.is_empty() => {
                    vec![self.chunk(json!({ "content": text }), None)]
                }
                _ => Vec::new(),
            },
            Some("thinking") => match str_of(block, "thinking") {
                Some(text) if !text.is_empty() => {
                    vec![self.chunk(json!({ "reasoning_content": text }), None)]
                }
                _ => Vec::new(),
            },
            Some("tool_use") => {
                let index = self.tool_calls.len();
                let block_index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
                self.tool_calls.push((block_index, index));
                let call = json!({
                    "index": index,
                    "id": str_of(block, "id").unwrap_or_default(),
                    "type": "function",
                    "function": { "name": str_of(block, "name").unwrap_or_default(), "arguments": "" },
                });
                vec![self.chunk(json!({ "tool_calls": [call] }), None)]
            }
            _ => Vec::new(),
        }
    }

    fn block_delta(&mut self, event: &Value) -> Vec<Value> {
        let delta = event.get("delta").unwrap_or(&Value::Null);
        let (key, text) = match str_of(delta, "type") {
            Some("text_delta") => ("content", str_of(delta, "text")),
            Some("thinking_delta") => ("reasoning_content", str_of(delta, "thinking")),
            Some("input_json_delta") => ("arguments", str_of(delta, "partial_json")),
            // signature_delta, citations_delta: nothing to show.
            _ => return Vec::new(),
        };
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Vec::new();
        };
        if key != "arguments" {
            return vec![self.chunk(json!({ key: text }), None)];
        }
        let block_index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let Some(&(_, index)) = self.tool_calls.iter().find(|(b, _)| *b == block_index) else {
            return Vec::new();
        };
        let call = json!({ "index": index, "function": { "arguments": text } });
        vec![self.chunk(json!({ "tool_calls": [call] }), None)]
    }

    fn merge_usage(&mut self, usage: Option<&Value>) {
        if let Some(Value::Object(usage)) = usage {
            for (key, value) in usage {
                if !value.is_null() {
                    self.usage.insert(key.clone(), value.clone());
                }
            }
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        })
    }
}
