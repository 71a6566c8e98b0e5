//! Input items: the Responses `input` (a string or a list of items) becomes
//! chat messages.
//!
//! - `message` items (also the short form `{"role","content"}` without
//!   `type`): `user` → user message with text and image parts; `system` and
//!   `developer` → system message (many providers have no `developer`
//!   role); `assistant` → assistant text.
//! - `function_call` / `custom_tool_call` → a tool call of the assistant
//!   message they follow (chat needs the calls of one turn in one message);
//!   a custom call's input becomes the arguments `{"input": …}`.
//! - `function_call_output` / `custom_tool_call_output` → `tool` messages.
//!   Images in an output go into a user message after the run of tool
//!   messages (chat `tool` messages carry text only).
//! - `reasoning` items are dropped: chat providers have no field for them
//!   that all accept (their `encrypted_content` only OpenAI can read).
//! - Records of built-in tools (`web_search_call`, `file_search_call`, …)
//!   are dropped with the tools themselves.

use serde_json::{json, Map, Value};

use super::str_of;
use super::tools::ToolMap;

/// Item types that record a built-in tool's work: nothing for a chat
/// provider to see, dropped like the tools.
const BUILTIN_RECORDS: &[&str] = &[
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "code_interpreter_call",
    "image_generation_call",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "tool_search_call",
    "tool_search_output",
    "compaction",
];

/// The input as a list of items: a string becomes one user message item.
pub fn input_items(input: Option<&Value>) -> Result<Vec<Value>, String> {
    match input {
        Some(Value::String(text)) => Ok(vec![json!({
            "type": "message",
            "role": "user",
            "content": [{ "type": "input_text", "text": text }],
        })]),
        Some(Value::Array(items)) => Ok(items.clone()),
        None | Some(Value::Null) => Err("missing \"input\"".into()),
        Some(_) => Err("\"input\" must be a string or an array of items".into()),
    }
}

/// Appends the chat messages for `items` to `out`.
pub fn chat_messages(items: &[Value], tools: &ToolMap, out: &mut Vec<Value>) -> Result<(), String> {
    let mut builder = Builder {
        out,
        pending_images: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        builder
            .item(item, tools)
            .map_err(|e| format!("input[{i}]: {e}"))?;
    }
    builder.flush_images();
    Ok(())
}

struct Builder<'a> {
    out: &'a mut Vec<Value>,
    /// Image parts of tool outputs, sent as a user message once the run of
    /// tool messages ends.
    pending_images: Vec<Value>,
}

impl Builder<'_> {
    fn item(&mut self, item: &Value, tools: &ToolMap) -> Result<(), String> {
        if !item.is_object() {
            return Err("an item must be an object".into());
        }
        let kind = match str_of(item, "type") {
            Some(kind) => kind,
            None if item.get("role").is_some() => "message",
            None => return Err("missing \"type\"".into()),
        };
        match kind {
            "message" => self.message(item),
            "function_call" => {
                let name = str_of(item, "name").ok_or("function_call needs a \"name\"")?;
                let arguments = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(other) => other.to_string(),
                };
                let name = tools.chat_name(name, str_of(item, "namespace"));
                self.tool_call(item, &name, arguments)
            }
            "custom_tool_call" => {
                let name = str_of(item, "name").ok_or("custom_tool_call needs a \"name\"")?;
                let input = str_of(item, "input").unwrap_or_default();
                let name = tools.chat_name(name, str_of(item, "namespace"));
                self.tool_call(item, &name, json!({ "input": input }).to_string())
            }
            "function_call_output" | "custom_tool_call_output" => self.tool_output(item),
            "reasoning" => Ok(()),
            "item_reference" => Err(
                "\"item_reference\" items are not supported: send the item itself, or use \
                 previous_response_id"
                    .into(),
            ),
            other if BUILTIN_RECORDS.contains(&other) => Ok(()),
            other => Err(format!("unknown item type {other:?}")),
        }
    }

    fn message(&mut self, item: &Value) -> Result<(), String> {
        let role = match str_of(item, "role") {
            Some(role @ ("user" | "assistant")) => role,
            Some("system" | "developer") => "system",
            Some(other) => {
                return Err(format!(
                    "unknown role {other:?}: use \"user\", \"assistant\", \"system\" or \
                     \"developer\""
                ))
            }
            None => return Err("a message needs a \"role\"".into()),
        };
        let parts = match item.get("content") {
            Some(Value::String(text)) => vec![json!({ "type": "text", "text": text })],
            Some(Value::Array(parts)) => parts
                .iter()
                .enumerate()
                .map(|(j, part)| chat_part(part).map_err(|e| format!("content[{j}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("\"content\" must be a string or an array of parts".into()),
        };
        if role != "user" && parts.iter().any(|p| str_of(p, "type") != Some("text")) {
            return Err(format!("a {role} message can only hold text"));
        }
        self.flush_images();
        if role == "assistant" {
            // No empty assistant messages: several providers refuse them.
            let text = joined_text(&parts);
            return if text.is_empty() {
                Ok(())
            } else {
                self.assistant_text(&text)
            };
        }
        let content = if parts.iter().all(|p| str_of(p, "type") == Some("text")) {
            // A plain string: what every OpenAI-compatible provider takes.
            Value::String(joined_text(&parts))
        } else {
            Value::Array(parts)
        };
        self.out.push(json!({ "role": role, "content": content }));
        Ok(())
    }

    /// Assistant text; joins the open assistant turn if its tool calls have
    /// no outputs yet (a chat assistant message must be followed by the
    /// outputs of its calls).
    fn assistant_text(&mut self, text: &str) -> Result<(), String> {
        if let Some(open) = self.open_assistant() {
            let joined = match open.get("content").and_then(Value::as_str) {
                Some(before) if !before.is_empty() => format!("{before}\n\n{text}"),
                _ => text.to_string(),
            };
            open.insert("content".into(), joined.into());
            return Ok(());
        }
        self.out
            .push(json!({ "role": "assistant", "content": text }));
        Ok(())
    }

    fn tool_call(&mut self, item: &Value, name: &str, arguments: String) -> Result<(), String> {
        let call_id = str_of(item, "call_id").ok_or("a tool call needs a \"call_id\"")?;
        let call = json!({
            "id": call_id,
            "type": "function",
            "function": { "name": name, "arguments": arguments },
        });
        self.flush_images();
        let open = match self.out.last_mut() {
            Some(Value::Object(last)) if str_of_map(last, "role") == Some("assistant") => last,
            _ => {
                self.out
                    .push(json!({ "role": "assistant", "content": null }));
                match self.out.last_mut() {
                    Some(Value::Object(last)) => last,
                    _ => return Err("internal: no assistant message".into()),
                }
            }
        };
        match open.get_mut("tool_calls") {
            Some(Value::Array(calls)) => calls.push(call),
            _ => {
                open.insert("tool_calls".into(), Value::Array(vec![call]));
            }
        }
        Ok(())
    }

    fn tool_output(&mut self, item: &Value) -> Result<(), String> {
        let call_id = str_of(item, "call_id").ok_or("a tool output needs a \"call_id\"")?;
        let text = match item.get("output") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => {
                let mut texts = Vec::new();
                for (j, part) in parts.iter().enumerate() {
                    let part = chat_part(part).map_err(|e| format!("output[{j}]: {e}"))?;
                    match str_of(&part, "type") {
                        Some("text") => {
                            texts.push(str_of(&part, "text").unwrap_or_default().to_string())
                        }
                        _ => self.pending_images.push(part),
                    }
                }
                texts.join("\n")
            }
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        self.out
            .push(json!({ "role": "tool", "tool_call_id": call_id, "content": text }));
        Ok(())
    }

    /// The last message, if it is an assistant message with tool calls.
    fn open_assistant(&mut self) -> Option<&mut Map<String, Value>> {
        match self.out.last_mut() {
            Some(Value::Object(last))
                if str_of_map(last, "role") == Some("assistant")
                    && last.contains_key("tool_calls") =>
            {
                Some(last)
            }
            _ => None,
        }
    }

    fn flush_images(&mut self) {
        if self.pending_images.is_empty() {
            return;
        }
        let mut content =
            vec![json!({ "type": "text", "text": "Images returned by the tool calls above:" })];
        content.append(&mut self.pending_images);
        self.out.push(json!({ "role": "user", "content": content }));
    }
}

/// The chat content part for a Responses content part.
fn chat_part(part: &Value) -> Result<Value, String> {
    match str_of(part, "type") {
        Some("input_text" | "output_text" | "text" | "summary_text" | "reasoning_text") => {
            Ok(json!({ "type": "text", "text": str_of(part, "text").unwrap_or_default() }))
        }
        Some("refusal") => {
            Ok(json!({ "type": "text", "text": str_of(part, "refusal").unwrap_or_default() }))
        }
        Some("input_image") => {
            let url = match part.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                Some(object) => str_of(object, "url").unwrap_or_default(),
                None => "",
            };
            if url.is_empty() {
                return Err("input_image needs an \"image_url\" (a file_id cannot be sent to a chat provider)".into());
            }
            let mut image = json!({ "url": url });
            if let Some(detail) = part.get("detail").filter(|d| d.is_string()) {
                image["detail"] = detail.clone();
            }
            Ok(json!({ "type": "image_url", "image_url": image }))
        }
        Some("input_file") => {
            let data = str_of(part, "file_data")
                .ok_or("input_file needs \"file_data\" (a file_id or file_url cannot be sent to a chat provider)")?;
            let mut file = json!({ "file_data": data });
            if let Some(name) = str_of(part, "filename") {
                file["filename"] = name.into();
            }
            Ok(json!({ "type": "file", "file": file }))
        }
        Some(other) => Err(format!("unknown content part type {other:?}")),
        None => Err("a content part needs a \"type\"".into()),
    }
}

/// The text of text parts, joined with blank lines.
fn joined_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| str_of(p, "text"))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn str_of_map<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}
