//! Function calling for Gemini requests: tool declarations (with their
//! JSON schemas cleaned), `tool_choice`, and the tool calls and results
//! replayed in the messages. Every `Err` is a message fit for a 400 answer.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::bare_model;
use super::request::plain_text;

/// Thought signature Gemini documents for function calls it did not
/// generate itself; Gemini 3 rejects a model turn's first call without one.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Whether replayed function calls need [`SKIP_SIGNATURE`]: every model
/// but the 1.x and 2.x generations (which do not check signatures).
pub(super) fn needs_signature(model: Option<&str>) -> bool {
    let model = model.map(bare_model).unwrap_or_default();
    !["gemini-1", "gemini-2", "gemma"]
        .iter()
        .any(|old| model.starts_with(old))
}

pub(super) fn assistant_parts(
    message: &Value,
    i: usize,
    signature: bool,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, String> {
    let mut parts = Vec::new();
    let text = plain_text(message.get("content"), i)?;
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    }
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(parts),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(format!("messages[{i}].tool_calls must be an array")),
    };
    for (n, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("messages[{i}].tool_calls[{n}].function.name is required"))?;
        let args = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(text)) if text.trim().is_empty() => json!({}),
            Some(Value::String(text)) => serde_json::from_str(text).map_err(|_| {
                format!("messages[{i}].tool_calls[{n}].function.arguments is not valid JSON")
            })?,
            Some(other) => other.clone(),
        };
        if !args.is_object() {
            return Err(format!(
                "messages[{i}].tool_calls[{n}].function.arguments must be a JSON object"
            ));
        }
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            call_names.insert(id.to_string(), name.to_string());
        }
        let mut part = json!({ "functionCall": { "name": name, "args": args } });
        if signature && n == 0 {
            if let Some(object) = part.as_object_mut() {
                object.insert("thoughtSignature".into(), SKIP_SIGNATURE.into());
            }
        }
        parts.push(part);
    }
    Ok(parts)
}

/// A tool result → a `functionResponse` part. Its content goes in
/// `response.content`: parsed when it is a JSON object or array, else as
/// the string it is.
pub(super) fn function_response(
    message: &Value,
    i: usize,
    call_names: &HashMap<String, String>,
) -> Result<Value, String> {
    let name = message
        .get("tool_call_id")
        .and_then(Value::as_str)
        .and_then(|id| call_names.get(id).map(String::as_str))
        .or_else(|| message.get("name").and_then(Value::as_str))
        .ok_or_else(|| {
            format!("messages[{i}]: tool_call_id matches no earlier assistant tool call")
        })?;
    let text = plain_text(message.get("content"), i)?;
    let content = match serde_json::from_str::<Value>(&text) {
        Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
        _ => Value::String(text),
    };
    Ok(json!({ "functionResponse": { "name": name, "response": { "content": content } } }))
}

pub(super) fn convert_tools(tools: Option<&Value>) -> Result<Option<Value>, String> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err("`tools` must be an array".into()),
    };
    let mut declarations = Vec::with_capacity(tools.len());
    for (n, tool) in tools.iter().enumerate() {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" {
            return Err(format!("tools[{n}]: unsupported tool type `{kind}`"));
        }
        let function = tool.get("function").and_then(Value::as_object);
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("tools[{n}].function.name is required"))?;
        let mut declaration = Map::new();
        declaration.insert("name".into(), name.into());
        if let Some(description) = function
            .and_then(|f| f.get("description"))
            .filter(|d| d.is_string())
        {
            declaration.insert("description".into(), description.clone());
        }
        if let Some(parameters) = function.and_then(|f| f.get("parameters")) {
            let empty_object = parameters.get("type").and_then(Value::as_str) == Some("object")
                && parameters
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty);
            if !parameters.is_null() && !empty_object {
                declaration.insert("parameters".into(), clean_schema(parameters));
            }
        }
        declarations.push(Value::Object(declaration));
    }
    Ok(Some(json!([{ "functionDeclarations": declarations }])))
}

pub(super) fn tool_config(choice: Option<&Value>) -> Result<Option<Value>, String> {
    let (mode, name) = match choice {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(choice)) => match choice.as_str() {
            "none" => ("NONE", None),
            "auto" => ("AUTO", None),
            "required" => ("ANY", None),
            other => return Err(format!("unsupported `tool_choice` `{other}`")),
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or("`tool_choice` object needs `function.name`")?;
            ("ANY", Some(name))
        }
    };
    let mut config = json!({ "mode": mode });
    if let (Some(name), Some(object)) = (name, config.as_object_mut()) {
        object.insert("allowedFunctionNames".into(), json!([name]));
    }
    Ok(Some(json!({ "functionCallingConfig": config })))
}

/// Drops the JSON-schema keys Gemini rejects (`$schema`, `additionalProperties`)
/// from a schema and its sub-schemas. Property names are left alone.
pub(super) fn clean_schema(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let cleaned = match key.as_str() {
            "$schema" | "additionalProperties" => continue,
            "properties" | "$defs" | "definitions" => match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(name, sub)| (name.clone(), clean_schema(sub)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "not" | "anyOf" | "oneOf" | "allOf" | "prefixItems" => match value {
                Value::Array(list) => Value::Array(list.iter().map(clean_schema).collect()),
                other => clean_schema(other),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), cleaned);
    }
    Value::Object(out)
}
