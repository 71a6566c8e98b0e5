//! The tool calls of a streamed answer: `function_call` items with
//! argument deltas, `custom_tool_call` items with their input sent whole.

use serde_json::{json, Value};

use super::super::response::tool_call_item;
use super::super::str_of;
use super::super::tools::ToolKind;
use super::{Event, ToResponsesStream};

/// One chat tool call, by its chunk `index`.
#[derive(Debug, Clone)]
pub(super) struct Call {
    chat_index: u64,
    /// Set when `output_item.added` was sent (once the name is known), so
    /// items are added in `output_index` order.
    output_index: Option<usize>,
    call_id: String,
    chat_name: String,
    arguments: String,
}

// === impl ToResponsesStream ===

impl ToResponsesStream {
    pub(super) fn tool_delta(&mut self, position: usize, call: &Value, out: &mut Vec<Event>) {
        let chat_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let slot = match self.calls.iter().position(|c| c.chat_index == chat_index) {
            Some(slot) => slot,
            None => {
                // Text before a tool call is done before the call is added.
                self.close_text(out);
                let call_id = str_of(call, "id").map_or_else(
                    || self.ctx.item_id("call", self.calls.len()),
                    str::to_string,
                );
                self.calls.push(Call {
                    chat_index,
                    output_index: None,
                    call_id,
                    chat_name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let function = call.get("function").unwrap_or(&Value::Null);
        if let Some(name) = str_of(function, "name").filter(|n| !n.is_empty()) {
            if self.calls[slot].chat_name.is_empty() {
                self.calls[slot].chat_name = name.to_string();
            }
        }
        let delta = str_of(function, "arguments").unwrap_or_default();
        self.calls[slot].arguments.push_str(delta);
        if self.calls[slot].output_index.is_none() {
            if self.calls[slot].chat_name.is_empty() {
                return;
            }
            // Added now; arguments that came before the name go in one delta.
            let buffered = self.calls[slot].arguments.clone();
            let index = self.add_call(slot, out);
            self.arguments_delta(slot, index, &buffered, out);
        } else if let Some(index) = self.calls[slot].output_index {
            self.arguments_delta(slot, index, delta, out);
        }
    }

    fn add_call(&mut self, slot: usize, out: &mut Vec<Event>) -> usize {
        let index = self.output.len();
        self.output.push(None);
        self.calls[slot].output_index = Some(index);
        let call = &self.calls[slot];
        let item = tool_call_item(
            &self.ctx,
            index,
            &call.call_id,
            &call.chat_name,
            "",
            "in_progress",
        );
        self.emit(
            out,
            "response.output_item.added",
            json!({ "output_index": index, "item": item }),
        );
        index
    }

    fn arguments_delta(&mut self, slot: usize, index: usize, delta: &str, out: &mut Vec<Event>) {
        if delta.is_empty() || self.kind(slot) == ToolKind::Custom {
            return;
        }
        let item_id = self.ctx.item_id("fc", index);
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({
            "item_id": item_id, "output_index": index, "delta": delta }),
        );
    }

    fn kind(&self, slot: usize) -> ToolKind {
        self.ctx
            .tools
            .lookup(&self.calls[slot].chat_name)
            .map_or(ToolKind::Function, |t| t.kind)
    }

    /// Closes every open call: `…arguments.done` (or the custom input,
    /// whole) and `output_item.done`, in `output_index` order.
    pub(super) fn close_calls(&mut self, out: &mut Vec<Event>) {
        for slot in 0..self.calls.len() {
            if self.calls[slot].output_index.is_none() {
                self.add_call(slot, out);
            }
        }
        let mut order: Vec<usize> = (0..self.calls.len()).collect();
        order.sort_by_key(|&slot| self.calls[slot].output_index);
        for slot in order {
            let Some(index) = self.calls[slot].output_index else {
                continue;
            };
            if self.output[index].is_some() {
                continue;
            }
            let call = &self.calls[slot];
            let item = tool_call_item(
                &self.ctx,
                index,
                &call.call_id,
                &call.chat_name,
                &call.arguments,
                "completed",
            );
            let item_id = str_of(&item, "id").unwrap_or_default().to_string();
            if self.kind(slot) == ToolKind::Custom {
                let input = str_of(&item, "input").unwrap_or_default().to_string();
                if !input.is_empty() {
                    self.emit(
                        out,
                        "response.custom_tool_call_input.delta",
                        json!({
                        "item_id": item_id, "output_index": index, "delta": input }),
                    );
                }
                self.emit(
                    out,
                    "response.custom_tool_call_input.done",
                    json!({
                    "item_id": item_id, "output_index": index, "input": input }),
                );
            } else {
                let name = str_of(&item, "name").unwrap_or_default().to_string();
                let arguments = self.calls[slot].arguments.clone();
                self.emit(out, "response.function_call_arguments.done", json!({
                    "item_id": item_id, "output_index": index, "name": name, "arguments": arguments }));
            }
            self.emit(
                out,
                "response.output_item.done",
                json!({ "output_index": index, "item": item }),
            );
            self.output[index] = Some(item);
        }
    }
}
