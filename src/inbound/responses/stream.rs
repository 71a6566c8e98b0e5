//! Streaming: the OpenAI chunks of a routed request become Responses SSE
//! events (`event:` name and JSON `data` with `type` and a strictly
//! increasing `sequence_number`). [`sse_frame`] frames one event.

mod calls;

use serde_json::{json, Value};

use calls::Call;

use super::errors::failed_error;
use super::response::{
    finish_status, message_item, output_text, reasoning_item, responses_usage, skeleton,
};
use super::ResponseContext;
use crate::inbound::chunk::ChunkParts;

/// One event: its name (also its `type`) and data.
pub type Event = (&'static str, Value);

/// `event: <name>\ndata: <json>\n\n`.
pub fn sse_frame(name: &str, data: &Value) -> String {
    let frame = crate::sse::named_frames([(name, data.clone())]);
    String::from_utf8_lossy(&frame).into_owned()
}

/// The open text item: assistant text or reasoning summary.
#[derive(Debug, Clone)]
struct OpenText {
    reasoning: bool,
    index: usize,
    id: String,
    text: String,
}

/// Converts one chat chunk stream into Responses events:
/// `response.created` and `response.in_progress` first; per output item
/// `response.output_item.added`, its deltas and `response.output_item.done`;
/// and last, from [`finish`](Self::finish), `response.completed` (or
/// `response.incomplete`) with the whole response and usage, or from an
/// error chunk or [`fail`](Self::fail) `response.failed`.
///
/// Text and reasoning are one item at a time (a new kind closes the open
/// one). Tool calls stay open until the stream finishes, so deltas that
/// interleave several calls (by chunk `index`) still reach the right item.
/// Custom tool input is sent whole when its call closes: the chat arguments
/// `{"input": "…"}` cannot be unwrapped piece by piece.
#[derive(Debug, Clone)]
pub struct ToResponsesStream {
    ctx: ResponseContext,
    sequence: u64,
    started: bool,
    /// A terminal event was sent: nothing more to emit.
    done: bool,
    /// Output items by `output_index`; `None` while open.
    output: Vec<Option<Value>>,
    text: Option<OpenText>,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    last: Option<Value>,
}

// === impl ToResponsesStream ===

impl ToResponsesStream {
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            sequence: 0,
            started: false,
            done: false,
            output: Vec::new(),
            text: None,
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
            last: None,
        }
    }

    /// The events for one chat chunk. A `finish_reason` closes every open
    /// item (the terminal event waits for [`finish`](Self::finish), once
    /// usage is known); an `{"error":…}` chunk yields `response.failed`.
    pub fn events(&mut self, chunk: &Value) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let parts = ChunkParts::of(chunk);
        if let Some(error) = parts.error {
            self.terminal_failed(failed_error(error), &mut out);
            return out;
        }
        self.start(&mut out);
        if let Some(usage) = parts.usage {
            self.usage = Some(usage.clone());
        }
        if let Some(text) = parts.reasoning() {
            self.text_delta(true, text, &mut out);
        }
        for key in ["content", "refusal"] {
            if let Some(text) = parts.text(key) {
                self.text_delta(false, text, &mut out);
            }
        }
        for (position, call) in parts.tool_calls().iter().enumerate() {
            self.tool_delta(position, call, &mut out);
        }
        if let Some(reason) = parts.finish_reason() {
            self.finish_reason = Some(reason.to_string());
            self.close_all(&mut out);
        }
        out
    }

    /// The end of the chat stream: open items closed, then
    /// `response.completed`, or `response.incomplete` when the provider
    /// stopped at `max_tokens` or a content filter. Nothing after a terminal
    /// event.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.start(&mut out);
        self.close_all(&mut out);
        let (status, details) = finish_status(self.finish_reason.as_deref());
        let mut response = self.snapshot(status);
        response["incomplete_details"] = details;
        response["usage"] = responses_usage(self.usage.as_ref().unwrap_or(&Value::Null));
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(&mut out, name, json!({ "response": response }));
        self.done = true;
        self.last = Some(response);
        out
    }

    /// `response.failed` with `code` ([`super::RATE_LIMIT_EXCEEDED`],
    /// [`super::SERVER_ERROR`], …) and `message`, for a failure the proxy
    /// found itself (a deadline, a cut stream).
    pub fn fail(&mut self, code: &str, message: &str) -> Vec<Event> {
        let mut out = Vec::new();
        if !self.done {
            self.terminal_failed(json!({ "code": code, "message": message }), &mut out);
        }
        out
    }

    /// The response of the terminal event, once sent: what a stored
    /// response keeps.
    pub fn final_response(&self) -> Option<&Value> {
        self.last.as_ref()
    }

    fn terminal_failed(&mut self, error: Value, out: &mut Vec<Event>) {
        self.start(out);
        let mut response = self.snapshot("failed");
        response["error"] = error;
        self.emit(out, "response.failed", json!({ "response": response }));
        self.done = true;
        self.last = Some(response);
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.snapshot("in_progress");
        self.emit(out, "response.created", json!({ "response": response }));
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    /// The response so far: its closed items, no usage.
    fn snapshot(&self, status: &str) -> Value {
        let mut response = skeleton(&self.ctx, status);
        let output: Vec<Value> = self.output.iter().flatten().cloned().collect();
        response.insert("output".into(), Value::Array(output));
        Value::Object(response)
    }

    fn emit(&mut self, out: &mut Vec<Event>, name: &'static str, mut data: Value) {
        if let Some(object) = data.as_object_mut() {
            object.insert("type".into(), name.into());
            object.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        out.push((name, data));
    }

    fn text_delta(&mut self, reasoning: bool, delta: &str, out: &mut Vec<Event>) {
        if self.text.as_ref().is_some_and(|t| t.reasoning != reasoning) {
            self.close_text(out);
        }
        let (index, id) = match &self.text {
            Some(open) => (open.index, open.id.clone()),
            None => self.open_text(reasoning, out),
        };
        if let Some(open) = &mut self.text {
            open.text.push_str(delta);
        }
        let (name, data) = if reasoning {
            (
                "response.reasoning_summary_text.delta",
                json!({ "item_id": id, "output_index": index, "summary_index": 0, "delta": delta }),
            )
        } else {
            (
                "response.output_text.delta",
                json!({ "item_id": id, "output_index": index, "content_index": 0,
                        "delta": delta, "logprobs": [] }),
            )
        };
        self.emit(out, name, data);
    }

    fn open_text(&mut self, reasoning: bool, out: &mut Vec<Event>) -> (usize, String) {
        let index = self.output.len();
        self.output.push(None);
        let id = self
            .ctx
            .item_id(if reasoning { "rs" } else { "msg" }, index);
        let (item, part_event, part) = if reasoning {
            (
                json!({ "type": "reasoning", "id": id, "summary": [] }),
                "response.reasoning_summary_part.added",
                json!({ "item_id": id, "output_index": index, "summary_index": 0,
                        "part": { "type": "summary_text", "text": "" } }),
            )
        } else {
            (
                json!({ "type": "message", "id": id, "status": "in_progress",
                        "role": "assistant", "content": [] }),
                "response.content_part.added",
                json!({ "item_id": id, "output_index": index, "content_index": 0,
                        "part": output_text("") }),
            )
        };
        self.emit(
            out,
            "response.output_item.added",
            json!({ "output_index": index, "item": item }),
        );
        self.emit(out, part_event, part);
        self.text = Some(OpenText {
            reasoning,
            index,
            id: id.clone(),
            text: String::new(),
        });
        (index, id)
    }

    fn close_all(&mut self, out: &mut Vec<Event>) {
        self.close_text(out);
        self.close_calls(out);
    }

    fn close_text(&mut self, out: &mut Vec<Event>) {
        let Some(OpenText {
            reasoning,
            index,
            id,
            text,
        }) = self.text.take()
        else {
            return;
        };
        let item = if reasoning {
            let part = json!({ "type": "summary_text", "text": text });
            self.emit(
                out,
                "response.reasoning_summary_text.done",
                json!({
                "item_id": id, "output_index": index, "summary_index": 0, "text": text }),
            );
            self.emit(
                out,
                "response.reasoning_summary_part.done",
                json!({
                "item_id": id, "output_index": index, "summary_index": 0, "part": part }),
            );
            reasoning_item(&id, &text)
        } else {
            self.emit(
                out,
                "response.output_text.done",
                json!({
                "item_id": id, "output_index": index, "content_index": 0,
                "text": text, "logprobs": [] }),
            );
            self.emit(
                out,
                "response.content_part.done",
                json!({
                "item_id": id, "output_index": index, "content_index": 0,
                "part": output_text(&text) }),
            );
            message_item(&id, &text, "completed")
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        self.output[index] = Some(item);
    }
}
