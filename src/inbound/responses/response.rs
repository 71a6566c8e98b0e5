//! The answer: an OpenAI `chat.completion` becomes a Responses `response`
//! object; also the output items and usage the stream translator shares.

use serde_json::{json, Map, Value};

use super::tools::ToolKind;
use super::{str_of, u64_of, ResponseContext};

/// The `response` object for a chat completion: output items `reasoning`
/// (when the provider returned reasoning content), `message` (text, and a
/// refusal as text), then one `function_call` or `custom_tool_call` per
/// tool call; `status` `incomplete` with `incomplete_details` when
/// `finish_reason` is `length` (`max_output_tokens`) or `content_filter`.
/// An `{"error":…}` body or a missing choice is `Err`.
pub fn response_object(chat: &Value, ctx: &ResponseContext) -> Result<Value, String> {
    if let Some(error) = chat.get("error").filter(|e| !e.is_null()) {
        return Err(str_of(error, "message").map_or_else(|| error.to_string(), str::to_string));
    }
    let choice = chat
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or("the chat answer has no choices")?;
    let message = choice.get("message").unwrap_or(&Value::Null);

    let mut output = Vec::new();
    let reasoning = str_of(message, "reasoning_content").or_else(|| str_of(message, "reasoning"));
    if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
        output.push(reasoning_item(&ctx.item_id("rs", output.len()), text));
    }
    let mut text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| str_of(p, "text")).collect(),
        _ => String::new(),
    };
    if let Some(refusal) = str_of(message, "refusal").filter(|r| !r.is_empty()) {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        output.push(message_item(
            &ctx.item_id("msg", output.len()),
            &text,
            "completed",
        ));
    }
    if let Some(Value::Array(calls)) = message.get("tool_calls") {
        for call in calls {
            let function = call.get("function").unwrap_or(&Value::Null);
            let arguments = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            };
            let index = output.len();
            let call_id =
                str_of(call, "id").map_or_else(|| ctx.item_id("call", index), str::to_string);
            let name = str_of(function, "name").unwrap_or_default();
            output.push(tool_call_item(
                ctx,
                index,
                &call_id,
                name,
                &arguments,
                "completed",
            ));
        }
    }

    let (status, details) = finish_status(str_of(choice, "finish_reason"));
    let mut response = skeleton(ctx, status);
    response.insert("incomplete_details".into(), details);
    response.insert("output".into(), Value::Array(output));
    response.insert(
        "usage".into(),
        responses_usage(chat.get("usage").unwrap_or(&Value::Null)),
    );
    Ok(Value::Object(response))
}

/// A `response` object without output: the context's id, model and echoed
/// request fields, with `status`.
pub(super) fn skeleton(ctx: &ResponseContext, status: &str) -> Map<String, Value> {
    let mut response = Map::new();
    response.insert("id".into(), ctx.id.clone().into());
    response.insert("object".into(), "response".into());
    response.insert("created_at".into(), ctx.created_at.into());
    response.insert("status".into(), status.into());
    response.insert("background".into(), false.into());
    response.insert("error".into(), Value::Null);
    response.insert("incomplete_details".into(), Value::Null);
    response.insert("model".into(), ctx.model.clone().into());
    response.insert("output".into(), json!([]));
    response.insert("usage".into(), Value::Null);
    for (key, value) in &ctx.echo {
        response.insert(key.clone(), value.clone());
    }
    response
}

/// `(status, incomplete_details)` for a chat `finish_reason`.
pub(super) fn finish_status(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({ "reason": "max_output_tokens" })),
        Some("content_filter") => ("incomplete", json!({ "reason": "content_filter" })),
        _ => ("completed", Value::Null),
    }
}

/// Responses `usage` for a chat `usage` (zeros when absent).
pub(super) fn responses_usage(usage: &Value) -> Value {
    let input = u64_of(usage, "prompt_tokens");
    let output = u64_of(usage, "completion_tokens");
    let cached = usage
        .get("prompt_tokens_details")
        .map_or(0, |d| u64_of(d, "cached_tokens"));
    let reasoning = usage
        .get("completion_tokens_details")
        .map_or(0, |d| u64_of(d, "reasoning_tokens"));
    let total = match u64_of(usage, "total_tokens") {
        0 => input + output,
        total => total,
    };
    json!({
        "input_tokens": input,
        "input_tokens_details": { "cached_tokens": cached },
        "output_tokens": output,
        "output_tokens_details": { "reasoning_tokens": reasoning },
        "total_tokens": total,
    })
}

/// An assistant `message` item with one `output_text` part.
pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [output_text(text)],
    })
}

/// An `output_text` content part.
pub(super) fn output_text(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

/// A `reasoning` item whose one summary part holds the provider's reasoning
/// text.
pub(super) fn reasoning_item(id: &str, text: &str) -> Value {
    json!({
        "type": "reasoning",
        "id": id,
        "summary": [{ "type": "summary_text", "text": text }],
    })
}

/// The output item for a chat tool call named `chat_name`: a
/// `custom_tool_call` (input = the `input` argument) for a custom tool, else
/// a `function_call`; both with the client's name and, for a namespaced
/// tool, its `namespace`. A name the client never declared comes back as a
/// `function_call` under that name.
pub(super) fn tool_call_item(
    ctx: &ResponseContext,
    index: usize,
    call_id: &str,
    chat_name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    let tool = ctx.tools.lookup(chat_name);
    let (kind, name, namespace) = match tool {
        Some(tool) => (tool.kind, tool.name.as_str(), tool.namespace.as_deref()),
        None => (ToolKind::Function, chat_name, None),
    };
    let mut item = match kind {
        ToolKind::Function => json!({
            "type": "function_call",
            "id": ctx.item_id("fc", index),
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": status,
        }),
        ToolKind::Custom => json!({
            "type": "custom_tool_call",
            "id": ctx.item_id("ctc", index),
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments),
            "status": status,
        }),
    };
    if let (Some(namespace), Some(object)) = (namespace, item.as_object_mut()) {
        object.insert("namespace".into(), namespace.into());
    }
    item
}

/// A custom tool's input from the chat arguments `{"input": "…"}`; other
/// arguments (a model that ignored the schema) are passed as their text.
pub(super) fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<Map<String, Value>>(arguments) {
        Ok(object) => match object.get("input") {
            Some(Value::String(input)) => input.clone(),
            _ => arguments.to_string(),
        },
        Err(_) => arguments.to_string(),
    }
}
