//! Inbound answers: an OpenAI `chat.completion` becomes an Anthropic
//! message; also Anthropic error bodies, and the id, usage and error
//! helpers the stream converter shares.

use serde_json::{json, Value};

use super::{error_type, stop_reason, str_of, u64_of};

/// Converts an OpenAI `chat.completion` into an Anthropic message: reasoning
/// as a `thinking` block, then text, then `tool_use` blocks. An answer with
/// no text and no tool calls has `content: []`. An `{"error":…}` body, a
/// missing choice, or tool arguments that are not a JSON object are `Err`.
pub fn messages_response(openai: &Value) -> Result<Value, String> {
    if let Some(error) = openai.get("error").filter(|e| !e.is_null()) {
        return Err(openai_error_message(error));
    }
    let choice = openai
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or("OpenAI answer has no choices")?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let id = message_id(str_of(openai, "id"));

    let mut content = Vec::new();
    let reasoning = str_of(message, "reasoning_content").or_else(|| str_of(message, "reasoning"));
    if let Some(thinking) = reasoning.filter(|t| !t.is_empty()) {
        content.push(json!({ "type": "thinking", "thinking": thinking, "signature": "" }));
    }
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| str_of(p, "text")).collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(json!({ "type": "text", "text": text }));
    }
    if let Some(refusal) = str_of(message, "refusal").filter(|r| !r.is_empty()) {
        content.push(json!({ "type": "text", "text": refusal }));
    }
    let calls = match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls.as_slice(),
        _ => &[],
    };
    for (i, call) in calls.iter().enumerate() {
        let function = call.get("function").unwrap_or(&Value::Null);
        let name = str_of(function, "name").unwrap_or_default();
        let input = match function.get("arguments") {
            Some(Value::String(s)) if !s.trim().is_empty() => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| format!("arguments of tool call {name:?} are not a JSON object"))?,
            Some(object @ Value::Object(_)) => object.clone(),
            _ => json!({}),
        };
        let tool_id = str_of(call, "id").map_or_else(|| format!("toolu_{id}_{i}"), str::to_string);
        content.push(json!({ "type": "tool_use", "id": tool_id, "name": name, "input": input }));
    }

    let finish = str_of(choice, "finish_reason");
    Ok(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": str_of(openai, "model").unwrap_or_default(),
        "content": content,
        "stop_reason": stop_reason(finish, !calls.is_empty()),
        "stop_sequence": null,
        "usage": anthropic_usage(openai.get("usage").unwrap_or(&Value::Null)),
    }))
}

/// The Anthropic error envelope `{"type":"error","error":{"type","message"}}`
/// with the error type for an HTTP status (see [`error_type`]).
pub fn error_body(status: u16, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": error_type(status), "message": message } })
}

/// `msg_…` id for an OpenAI answer id (`chatcmpl-abc` → `msg_abc`).
pub(super) fn message_id(openai_id: Option<&str>) -> String {
    match openai_id {
        Some(id) if id.starts_with("msg_") => id.to_string(),
        Some(id) if !id.is_empty() => format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id)),
        _ => "msg_proxy".to_string(),
    }
}

/// Anthropic `usage` for an OpenAI `usage`: cached prompt tokens are
/// reported as cache reads, not as `input_tokens`.
pub(super) fn anthropic_usage(usage: &Value) -> Value {
    let cached = usage
        .get("prompt_tokens_details")
        .map_or(0, |d| u64_of(d, "cached_tokens"));
    json!({
        "input_tokens": u64_of(usage, "prompt_tokens").saturating_sub(cached),
        "output_tokens": u64_of(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    })
}

/// The message of an OpenAI `error` value (an object or a bare string).
pub(super) fn openai_error_message(error: &Value) -> String {
    str_of(error, "message")
        .or_else(|| error.as_str())
        .map_or_else(|| error.to_string(), str::to_string)
}
