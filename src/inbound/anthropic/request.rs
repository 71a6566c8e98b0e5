//! Inbound request: an Anthropic Messages request (from a client of the
//! proxy's `POST /v1/messages`) becomes the OpenAI chat request the proxy
//! routes.

use serde_json::{json, Map, Value};

use super::request_check::check_fields;
use super::str_of;

/// Builds the OpenAI chat request for an Anthropic Messages request. The
/// model is kept as given (e.g. `groq/llama-3.1-8b-instant`); for streams
/// `stream_options.include_usage` is set.
///
/// `system` becomes a leading system message, and `system` entries inside
/// `messages` (Claude Code sends them) system messages in their place;
/// `tool_result` blocks become `tool` messages (their text only) placed
/// before the rest of their user turn; `tool_use` blocks become
/// `tool_calls`; a JSON schema output format becomes `response_format`.
/// Thinking blocks, `cache_control`, `top_k`, `metadata`, the `thinking`
/// setting, `context_management`, the effort of `output_config` and other
/// settings no OpenAI-format provider has are dropped. User turns with only
/// text become a plain string (blocks joined with blank lines), as many
/// OpenAI-compatible providers want. Fields of the wrong type (`model`,
/// `stream`, `max_tokens`, …), server tools, documents and other unknown
/// blocks are errors.
pub fn openai_request_from_messages(anthropic: &Value) -> Result<Value, String> {
    check_fields(anthropic)?;
    let model = str_of(anthropic, "model").ok_or("missing \"model\"")?;
    let messages = anthropic
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("missing \"messages\" array")?;

    let mut converted = Vec::new();
    let system = system_text(anthropic.get("system"))?;
    if !system.is_empty() {
        converted.push(json!({ "role": "system", "content": system }));
    }
    for (i, message) in messages.iter().enumerate() {
        convert_message(message, &mut converted).map_err(|e| format!("messages[{i}]: {e}"))?;
    }

    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert("messages".into(), Value::Array(converted));
    for key in ["max_tokens", "temperature", "top_p"] {
        if let Some(value) = anthropic.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(Value::Array(stop)) = anthropic.get("stop_sequences") {
        if !stop.is_empty() {
            out.insert("stop".into(), Value::Array(stop.clone()));
        }
    }
    let tools = tools(anthropic.get("tools"))?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = anthropic.get("tool_choice").filter(|c| c.is_object()) {
            let converted = match str_of(choice, "type") {
                Some("auto") => json!("auto"),
                Some("any") => json!("required"),
                Some("none") => json!("none"),
                Some("tool") => {
                    let name = str_of(choice, "name").ok_or("tool_choice \"tool\" needs a name")?;
                    json!({ "type": "function", "function": { "name": name } })
                }
                other => return Err(format!("unknown tool_choice type {other:?}")),
            };
            out.insert("tool_choice".into(), converted);
            if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
                out.insert("parallel_tool_calls".into(), false.into());
            }
        }
    }
    if let Some(format) = response_format(anthropic) {
        out.insert("response_format".into(), format);
    }
    if anthropic.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Value::Object(out))
}

/// Structured output — `output_config.format` (or the older top-level
/// `output_format`) of type `json_schema`, which Claude Code asks for in
/// some side tasks — becomes OpenAI's `response_format`. The rest of
/// `output_config` (`effort`) is dropped: many OpenAI-compatible models
/// refuse `reasoning_effort`.
fn response_format(anthropic: &Value) -> Option<Value> {
    let format = anthropic
        .get("output_config")
        .and_then(|config| config.get("format"))
        .filter(|f| !f.is_null())
        .or_else(|| anthropic.get("output_format"))?;
    if str_of(format, "type") != Some("json_schema") {
        return None;
    }
    let schema = format.get("schema").filter(|s| s.is_object())?;
    Some(json!({
        "type": "json_schema",
        "json_schema": { "name": "output", "schema": schema },
    }))
}

fn system_text(system: Option<&Value>) -> Result<String, String> {
    match system {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => Ok(join_text(blocks)),
        Some(_) => Err("\"system\" must be a string or text blocks".into()),
    }
}

/// The non-empty `text` of text blocks, joined with blank lines.
fn join_text(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| str_of(b, "type") == Some("text"))
        .filter_map(|b| str_of(b, "text"))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Appends the OpenAI message(s) for one Anthropic message.
fn convert_message(message: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let role = match str_of(message, "role") {
        Some(role @ ("user" | "assistant")) => role,
        Some("system" | "developer") => return system_message(message.get("content"), out),
        Some(other) => {
            return Err(format!(
                "unsupported role {other:?}: use \"user\", \"assistant\" or \"system\""
            ))
        }
        None => return Err("missing \"role\"".into()),
    };
    let blocks = match message.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({ "role": role, "content": text }));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err("content must be a string or an array of blocks".into()),
    };
    if role == "assistant" {
        return assistant_message(blocks, out);
    }
    let mut parts = Vec::new();
    for block in blocks {
        match str_of(block, "type") {
            Some("text") => {
                if let Some(text) = str_of(block, "text").filter(|t| !t.is_empty()) {
                    parts.push(json!({ "type": "text", "text": text }));
                }
            }
            Some("image") => parts
                .push(json!({ "type": "image_url", "image_url": { "url": image_url(block)? } })),
            Some("tool_result") => {
                let id =
                    str_of(block, "tool_use_id").ok_or("tool_result without \"tool_use_id\"")?;
                let content = match block.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(inner)) => join_text(inner),
                    _ => String::new(),
                };
                out.push(json!({ "role": "tool", "tool_call_id": id, "content": content }));
            }
            Some("thinking" | "redacted_thinking") => {}
            other => return Err(format!("unsupported content block {other:?}")),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let content = if parts.iter().all(|p| str_of(p, "type") == Some("text")) {
        Value::String(join_text(&parts))
    } else {
        Value::Array(parts)
    };
    out.push(json!({ "role": "user", "content": content }));
    Ok(())
}

/// A system entry inside the conversation stays there, as a system message
/// (providers with only one system instruction fold it in, in order).
fn system_message(content: Option<&Value>, out: &mut Vec<Value>) -> Result<(), String> {
    let text = system_text(content)
        .map_err(|_| "a system message's content must be a string or text blocks".to_string())?;
    if !text.is_empty() {
        out.push(json!({ "role": "system", "content": text }));
    }
    Ok(())
}

fn assistant_message(blocks: &[Value], out: &mut Vec<Value>) -> Result<(), String> {
    let mut tool_calls = Vec::new();
    for block in blocks {
        match str_of(block, "type") {
            Some("text" | "thinking" | "redacted_thinking") => {}
            Some("tool_use") => tool_calls.push(json!({
                "id": str_of(block, "id").ok_or("tool_use without \"id\"")?,
                "type": "function",
                "function": {
                    "name": str_of(block, "name").ok_or("tool_use without \"name\"")?,
                    "arguments": block.get("input").map_or_else(|| "{}".into(), Value::to_string),
                },
            })),
            other => return Err(format!("unsupported content block {other:?}")),
        }
    }
    let text = join_text(blocks);
    if text.is_empty() && tool_calls.is_empty() {
        return Ok(());
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    let content = if text.is_empty() {
        Value::Null
    } else {
        text.into()
    };
    message.insert("content".into(), content);
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    out.push(Value::Object(message));
    Ok(())
}

/// A data URL or http(s) URL for an image block's `source`.
fn image_url(block: &Value) -> Result<String, String> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match str_of(source, "type") {
        Some("base64") => {
            let media_type = str_of(source, "media_type").ok_or("image without media_type")?;
            let data = str_of(source, "data").ok_or("image without data")?;
            Ok(format!("data:{media_type};base64,{data}"))
        }
        Some("url") => Ok(str_of(source, "url")
            .ok_or("image without url")?
            .to_string()),
        other => Err(format!("unsupported image source {other:?}")),
    }
}

fn tools(tools: Option<&Value>) -> Result<Vec<Value>, String> {
    let Some(Value::Array(tools)) = tools else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for tool in tools {
        if let Some(kind) = str_of(tool, "type").filter(|t| *t != "custom") {
            return Err(format!("server tool {kind:?} is not supported"));
        }
        let name = str_of(tool, "name").ok_or("tool without \"name\"")?;
        let mut function = Map::new();
        function.insert("name".into(), name.into());
        if let Some(description) = str_of(tool, "description") {
            function.insert("description".into(), description.into());
        }
        let schema = match tool.get("input_schema") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => json!({ "type": "object", "properties": {} }),
        };
        function.insert("parameters".into(), schema);
        out.push(json!({ "type": "function", "function": function }));
    }
    Ok(out)
}
