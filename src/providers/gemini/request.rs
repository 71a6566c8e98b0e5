//! OpenAI requests → Gemini request bodies. Every `Err` is a message fit
//! for a 400 answer to the client.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::bare_model;
use super::tools::{
    assistant_parts, clean_schema, convert_tools, function_response, needs_signature, tool_config,
};

/// OpenAI chat request (its `model` already stripped of the `gemini/`
/// prefix) → Gemini `GenerateContentRequest` body. The model goes in the
/// URL ([`super::chat_path`]), not in the body; `stream` is ignored.
pub fn chat_request(openai: &Value) -> Result<Value, String> {
    let model = openai.get("model").and_then(Value::as_str);
    chat_body(openai, model).map(Value::Object)
}

/// Embeddings: `{"input": string | [string], "dimensions"?}` → the path and
/// body of `embedContent` (one string) or `batchEmbedContents` (a list).
pub fn embeddings_request(openai: &Value, model: &str) -> Result<(String, Value), String> {
    let model = bare_model(model);
    let dimensions = openai.get("dimensions").filter(|d| !d.is_null());
    let content = |text: &str| json!({ "parts": [{ "text": text }] });
    let with_dimensions = |mut request: Value| {
        if let (Some(d), Some(object)) = (dimensions, request.as_object_mut()) {
            object.insert("outputDimensionality".into(), d.clone());
        }
        request
    };
    match openai.get("input") {
        Some(Value::String(text)) => Ok((
            format!("/models/{model}:embedContent"),
            with_dimensions(json!({ "content": content(text) })),
        )),
        Some(Value::Array(items)) if !items.is_empty() => {
            let requests = items
                .iter()
                .map(|item| {
                    let text = item.as_str().ok_or(
                        "`input` must be a string or an array of strings \
                         (token arrays are not supported for Gemini)",
                    )?;
                    Ok(with_dimensions(json!({
                        "model": format!("models/{model}"),
                        "content": content(text),
                    })))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok((
                format!("/models/{model}:batchEmbedContents"),
                json!({ "requests": requests }),
            ))
        }
        Some(Value::Array(_)) => Err("`input` must not be empty".into()),
        _ => Err("`input` must be a string or an array of strings".into()),
    }
}

/// Token count: `{"messages": [...]}` (counted as a full chat request,
/// system prompt and tools included) or `{"text": "..."}` → the path and
/// body of `countTokens`.
pub fn count_tokens_request(openai: &Value, model: &str) -> Result<(String, Value), String> {
    let model = bare_model(model);
    let path = format!("/models/{model}:countTokens");
    if openai.get("messages").is_some() {
        let mut request = chat_body(openai, Some(model))?;
        request.insert("model".into(), Value::String(format!("models/{model}")));
        return Ok((path, json!({ "generateContentRequest": request })));
    }
    match openai.get("text") {
        Some(Value::String(text)) => Ok((
            path,
            json!({ "contents": [{ "parts": [{ "text": text }] }] }),
        )),
        _ => Err("expected `messages` (an array) or `text` (a string)".into()),
    }
}

fn chat_body(openai: &Value, model: Option<&str>) -> Result<Map<String, Value>, String> {
    let request = openai
        .as_object()
        .ok_or("the request body must be a JSON object")?;
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be an array")?;
    let (system, contents) = convert_messages(messages, needs_signature(model))?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({ "parts": [{ "text": system.join("\n\n") }] }),
        );
    }
    if let Some(tools) = convert_tools(request.get("tools"))? {
        body.insert("tools".into(), tools);
        if let Some(config) = tool_config(request.get("tool_choice"))? {
            body.insert("toolConfig".into(), config);
        }
    }
    let config = generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(body)
}

/// Messages → (system texts, contents). Consecutive tool results become
/// one `user` turn, as Gemini wants one response part per call of the
/// preceding model turn.
fn convert_messages(
    messages: &[Value],
    signature: bool,
) -> Result<(Vec<String>, Vec<Value>), String> {
    let mut system = Vec::new();
    let mut contents = Vec::new();
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("messages[{i}].role must be a string"))?;
        let content = message.get("content");
        if role != "tool" && role != "function" && !responses.is_empty() {
            contents.push(json!({ "role": "user", "parts": std::mem::take(&mut responses) }));
        }
        match role {
            "system" | "developer" => {
                let text = plain_text(content, i)?;
                if !text.is_empty() {
                    system.push(text);
                }
            }
            "user" => {
                let parts = user_parts(content, i)?;
                if !parts.is_empty() {
                    contents.push(json!({ "role": "user", "parts": parts }));
                }
            }
            "assistant" => {
                let parts = assistant_parts(message, i, signature, &mut call_names)?;
                if !parts.is_empty() {
                    contents.push(json!({ "role": "model", "parts": parts }));
                }
            }
            "tool" | "function" => responses.push(function_response(message, i, &call_names)?),
            other => return Err(format!("messages[{i}]: unsupported role `{other}`")),
        }
    }
    if !responses.is_empty() {
        contents.push(json!({ "role": "user", "parts": responses }));
    }
    if contents.is_empty() {
        return Err("`messages` must hold at least one user or assistant message".into());
    }
    Ok((system, contents))
}

/// Text of a string or text-parts content (system, assistant, tool).
pub(super) fn plain_text(content: Option<&Value>, i: usize) -> Result<String, String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part_type(part, i)? {
                    "text" => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    other => return Err(unsupported_part(other, i)),
                }
            }
            Ok(text)
        }
        Some(_) => Err(format!(
            "messages[{i}].content must be a string or an array"
        )),
    }
}

fn part_type(part: &Value, i: usize) -> Result<&str, String> {
    part.get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("messages[{i}].content: every part needs a `type`"))
}

fn unsupported_part(kind: &str, i: usize) -> String {
    format!("messages[{i}].content: unsupported content part type `{kind}`")
}

fn user_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>, String> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![json!({ "text": text })]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(format!(
                "messages[{i}].content must be a string or an array"
            ))
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let converted = match part_type(part, i)? {
            "text" => match part.get("text").and_then(Value::as_str) {
                Some("") => continue,
                Some(text) => json!({ "text": text }),
                None => return Err(format!("messages[{i}].content: a text part needs `text`")),
            },
            "image_url" => {
                let image = part.get("image_url");
                let url = image
                    .and_then(|u| u.get("url"))
                    .or(image)
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        format!("messages[{i}].content: an image_url part needs `url`")
                    })?;
                media_part(url, i)?
            }
            "input_audio" => {
                let audio = part.get("input_audio");
                let field = |key| audio.and_then(|a| a.get(key)).and_then(Value::as_str);
                let (Some(data), Some(format)) = (field("data"), field("format")) else {
                    return Err(format!(
                        "messages[{i}].content: input_audio needs `data` and `format`"
                    ));
                };
                json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } })
            }
            "file" => {
                let data = part
                    .get("file")
                    .and_then(|f| f.get("file_data"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        format!(
                            "messages[{i}].content: only inline `file_data` files are supported"
                        )
                    })?;
                media_part(data, i)?
            }
            other => return Err(unsupported_part(other, i)),
        };
        out.push(converted);
    }
    Ok(out)
}

/// A `data:` URL → `inlineData`; an http(s) or gs URL → `fileData`.
fn media_part(url: &str, i: usize) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (header, data) = rest
            .split_once(',')
            .ok_or_else(|| format!("messages[{i}].content: malformed data URL"))?;
        let mime = header
            .strip_suffix(";base64")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                format!("messages[{i}].content: data URLs must be `data:<mime>;base64,...`")
            })?;
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    if ["https://", "http://", "gs://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return Ok(json!({ "fileData": { "mimeType": guess_mime(url), "fileUri": url } }));
    }
    Err(format!(
        "messages[{i}].content: unsupported URL (expected a data:, http(s) or gs URL)"
    ))
}

fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        Some("pdf") => "application/pdf",
        _ => "image/jpeg",
    }
}

fn generation_config(request: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let get = |key: &str| request.get(key).filter(|v| !v.is_null());
    let mut config = Map::new();
    if let Some(max) = get("max_completion_tokens").or_else(|| get("max_tokens")) {
        config.insert("maxOutputTokens".into(), max.clone());
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(value) = get(from) {
            config.insert(to.into(), value.clone());
        }
    }
    match get("stop") {
        None => {}
        Some(Value::String(stop)) => {
            config.insert("stopSequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if stops.is_empty() => {}
        Some(Value::Array(stops)) if stops.iter().all(Value::is_string) => {
            config.insert("stopSequences".into(), Value::Array(stops.clone()));
        }
        Some(_) => return Err("`stop` must be a string or an array of strings".into()),
    }
    if let Some(format) = get("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), "application/json".into());
                if let Some(schema) = format.get("json_schema").and_then(|s| s.get("schema")) {
                    config.insert("responseSchema".into(), clean_schema(schema));
                }
            }
            _ => return Err("unsupported `response_format` type".into()),
        }
    }
    if let Some(effort) = get("reasoning_effort") {
        let budget = match effort.as_str() {
            Some("none") => 0,
            Some("minimal" | "low") => 1024,
            Some("medium") => 8192,
            Some("high") => 24576,
            _ => return Err("unsupported `reasoning_effort`".into()),
        };
        config.insert("thinkingConfig".into(), json!({ "thinkingBudget": budget }));
    }
    Ok(config)
}
