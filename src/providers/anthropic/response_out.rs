//! Outbound answers: an Anthropic message becomes an OpenAI
//! `chat.completion`; also the models list, the count_tokens answer, and
//! the usage and error helpers the stream converter shares.

use serde_json::{json, Map, Value};

use super::{finish_reason, str_of, u64_of};

/// Converts an Anthropic message into an OpenAI `chat.completion`: text
/// blocks joined into `content` (`null` when there are only tool calls),
/// `tool_use` blocks into `tool_calls`, thinking into `reasoning_content`.
/// An `{"type":"error"}` body is an `Err` with its message.
pub fn chat_response(anthropic: &Value, created: u64) -> Result<Value, String> {
    if str_of(anthropic, "type") == Some("error") {
        return Err(error_message(anthropic));
    }
    let content = anthropic
        .get("content")
        .and_then(Value::as_array)
        .ok_or("Anthropic answer has no \"content\" array")?;
    let mut text = String::new();
    let mut reasoning: Vec<&str> = Vec::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match str_of(block, "type") {
            Some("text") => text.push_str(str_of(block, "text").unwrap_or_default()),
            Some("thinking") => reasoning.extend(str_of(block, "thinking")),
            Some("tool_use") => tool_calls.push(json!({
                "id": str_of(block, "id").unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": str_of(block, "name").unwrap_or_default(),
                    "arguments": block.get("input").map_or_else(|| "{}".into(), Value::to_string),
                },
            })),
            // redacted_thinking, server tool blocks: nothing to show.
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    let content = if text.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        text.into()
    };
    message.insert("content".into(), content);
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), reasoning.join("\n\n").into());
    }
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    Ok(json!({
        "id": str_of(anthropic, "id").unwrap_or_default(),
        "object": "chat.completion",
        "created": created,
        "model": str_of(anthropic, "model").unwrap_or_default(),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": str_of(anthropic, "stop_reason").map(finish_reason),
        }],
        "usage": openai_usage(anthropic.get("usage").unwrap_or(&Value::Null)),
    }))
}

/// Model ids from Anthropic's `GET /v1/models` answer
/// (`{"data":[{"id":"claude-…","type":"model"}],…}`).
pub fn model_ids(anthropic: &Value) -> Vec<String> {
    anthropic
        .get("data")
        .and_then(Value::as_array)
        .map(|data| {
            data.iter()
                .filter_map(|m| str_of(m, "id").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `input_tokens` of a count_tokens answer.
pub fn count_tokens_response(anthropic: &Value) -> Option<u64> {
    anthropic.get("input_tokens").and_then(Value::as_u64)
}

/// OpenAI `usage` for an Anthropic `usage` object: prompt tokens include
/// cache reads and writes; cache reads are also `cached_tokens`.
pub(super) fn openai_usage(usage: &Value) -> Value {
    let cached = u64_of(usage, "cache_read_input_tokens");
    let prompt = u64_of(usage, "input_tokens")
        .saturating_add(cached)
        .saturating_add(u64_of(usage, "cache_creation_input_tokens"));
    let completion = u64_of(usage, "output_tokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt.saturating_add(completion),
        "prompt_tokens_details": { "cached_tokens": cached },
    })
}

/// The message of an Anthropic error body.
pub(super) fn error_message(body: &Value) -> String {
    body.get("error")
        .and_then(|e| str_of(e, "message"))
        .unwrap_or("Anthropic returned an error")
        .to_string()
}
