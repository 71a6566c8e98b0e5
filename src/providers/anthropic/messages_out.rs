//! Outbound messages: OpenAI chat `messages` become Anthropic's top-level
//! `system` text and alternating user/assistant turns of content blocks
//! (text, image, document, tool_use, tool_result).

use serde_json::{json, Value};

use super::str_of;

/// `(system text, alternating Anthropic messages)`.
pub(super) fn convert_messages(messages: &[Value]) -> Result<(String, Vec<Value>), String> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let at = |e: String| format!("messages[{i}]: {e}");
        let (role, blocks) = match str_of(message, "role") {
            Some("system" | "developer") => {
                let text = system_text(message.get("content")).map_err(at)?;
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Some("user") => ("user", content_blocks(message.get("content")).map_err(at)?),
            Some("assistant") => ("assistant", assistant_blocks(message).map_err(at)?),
            Some("tool") => ("user", vec![tool_result(message).map_err(at)?]),
            Some(other) => return Err(at(format!("unsupported role {other:?}"))),
            None => return Err(at("missing \"role\"".into())),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let turns = turns
        .into_iter()
        .map(|(role, mut content)| {
            // Anthropic wants tool results before any other user content.
            content.sort_by_key(|b| str_of(b, "type") != Some("tool_result"));
            json!({ "role": role, "content": content })
        })
        .collect();
    Ok((system.join("\n\n"), turns))
}

fn system_text(content: Option<&Value>) -> Result<String, String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| str_of(p, "text"))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")),
        Some(_) => Err("system content must be a string or parts".into()),
    }
}

/// Content blocks for a user or assistant `content` (empty text dropped:
/// Anthropic rejects empty text blocks).
fn content_blocks(content: Option<&Value>) -> Result<Vec<Value>, String> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![json!({ "type": "text", "text": s })]),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::new();
            for part in parts {
                blocks.extend(part_block(part)?);
            }
            Ok(blocks)
        }
        Some(_) => Err("content must be a string or an array of parts".into()),
    }
}

/// The block for one OpenAI content part: text, image (data or http(s)
/// URL) or a `file` with inline data (a document); `None` for empty text.
/// A part's `cache_control` is kept.
fn part_block(part: &Value) -> Result<Option<Value>, String> {
    let mut block = match str_of(part, "type") {
        // An assistant's `refusal` part is sent back as text.
        Some(kind @ ("text" | "refusal")) => match str_of(part, kind) {
            Some(text) if !text.is_empty() => json!({ "type": "text", "text": text }),
            _ => return Ok(None),
        },
        Some("image_url") => {
            let image = part.get("image_url");
            let url = image
                .and_then(|i| str_of(i, "url"))
                .or_else(|| image.and_then(Value::as_str))
                .ok_or("image_url part without a url")?;
            json!({ "type": "image", "source": image_source(url)? })
        }
        Some("file") => {
            let data = part
                .get("file")
                .and_then(|f| str_of(f, "file_data"))
                .ok_or("file parts need inline \"file_data\"")?;
            let (media_type, data) = split_data_url(data)?;
            json!({
                "type": "document",
                "source": { "type": "base64", "media_type": media_type, "data": data },
            })
        }
        Some(other) => return Err(format!("unsupported content part {other:?}")),
        None => return Err("content part without \"type\"".into()),
    };
    if let (Some(cache), Some(obj)) = (part.get("cache_control"), block.as_object_mut()) {
        obj.insert("cache_control".into(), cache.clone());
    }
    Ok(Some(block))
}

/// An image `source` for a data URL (base64) or an http(s) URL.
fn image_source(url: &str) -> Result<Value, String> {
    if url.starts_with("data:") {
        let (media_type, data) = split_data_url(url)?;
        return Ok(json!({ "type": "base64", "media_type": media_type, "data": data }));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({ "type": "url", "url": url }));
    }
    Err("image URLs must be data: (base64) or http(s) URLs".into())
}

/// `data:<media type>;base64,<data>` → `(media type, data)`.
fn split_data_url(url: &str) -> Result<(&str, &str), String> {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .and_then(|(meta, data)| Some((meta.strip_suffix(";base64")?, data)))
        .ok_or_else(|| "data URLs must be data:<media type>;base64,<data>".to_string())
}

fn assistant_blocks(message: &Value) -> Result<Vec<Value>, String> {
    let mut blocks = content_blocks(message.get("content"))?;
    let calls = match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls.as_slice(),
        _ => &[],
    };
    for call in calls {
        if str_of(call, "type").is_some_and(|t| t != "function") {
            return Err("only function tool calls are supported".into());
        }
        let id = str_of(call, "id").ok_or("tool call without \"id\"")?;
        let function = call
            .get("function")
            .ok_or("tool call without \"function\"")?;
        let name = str_of(function, "name").ok_or("tool call without a name")?;
        let input = match function.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| format!("arguments of tool call {id} are not a JSON object"))?,
            Some(object @ Value::Object(_)) => object.clone(),
            Some(_) => return Err(format!("arguments of tool call {id} are not a JSON object")),
        };
        blocks.push(json!({ "type": "tool_use", "id": id, "name": name, "input": input }));
    }
    Ok(blocks)
}

fn tool_result(message: &Value) -> Result<Value, String> {
    let id = str_of(message, "tool_call_id").ok_or("tool message without \"tool_call_id\"")?;
    let content = match message.get("content") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(_)) => Value::Array(content_blocks(message.get("content"))?),
        _ => Value::String(String::new()),
    };
    Ok(json!({ "type": "tool_result", "tool_use_id": id, "content": content }))
}
