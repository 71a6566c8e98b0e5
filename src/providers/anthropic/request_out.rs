//! Outbound request: an OpenAI chat request becomes an Anthropic
//! `/v1/messages` body (and a `/v1/messages/count_tokens` body).

use serde_json::{json, Map, Value};

use super::messages_out::convert_messages;
use super::{str_of, u64_of, DEFAULT_MAX_TOKENS};

/// Builds the Anthropic `/v1/messages` body for an OpenAI chat request whose
/// `model` is already the bare Anthropic name.
///
/// System (and `developer`) messages become the top-level `system` string,
/// joined with blank lines; consecutive turns of the same role merge into
/// one message (tool results first); `reasoning_effort` becomes `thinking`.
/// `temperature` above 1 is clamped to 1; when both `temperature` and
/// `top_p` are set only `temperature` is sent (newer models reject both),
/// and neither is sent with thinking on. Fields Anthropic has no
/// equivalent for (`response_format`, penalties, `seed`, `logprobs`, …)
/// are dropped; `n > 1` and unknown content are errors.
pub fn messages_request(openai: &Value) -> Result<Value, String> {
    if !openai.is_object() {
        return Err("request body must be a JSON object".into());
    }
    let model = str_of(openai, "model").ok_or("missing \"model\"")?;
    let messages = openai
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("missing \"messages\" array")?;
    if openai
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err("\"n\" above 1 is not supported by Anthropic".into());
    }

    let mut out = Map::new();
    out.insert("model".into(), model.into());
    let (system, turns) = convert_messages(messages)?;
    if !system.is_empty() {
        out.insert("system".into(), system.into());
    }
    out.insert("messages".into(), Value::Array(turns));

    let mut max_tokens = openai
        .get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| openai.get("max_tokens").and_then(Value::as_u64))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    match thinking(openai)? {
        Some(thinking) => {
            let budget = u64_of(&thinking, "budget_tokens");
            if max_tokens <= budget {
                max_tokens = max_tokens.saturating_add(budget);
            }
            out.insert("thinking".into(), thinking);
        }
        None => sampling(openai, &mut out),
    }
    out.insert("max_tokens".into(), max_tokens.into());

    let stop: Vec<Value> = match openai.get("stop") {
        Some(Value::String(s)) => vec![s.as_str().into()],
        Some(Value::Array(list)) => list.iter().filter(|s| s.is_string()).cloned().collect(),
        _ => Vec::new(),
    };
    if !stop.is_empty() {
        out.insert("stop_sequences".into(), Value::Array(stop));
    }

    let tools = tools(openai.get("tools"))?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        let parallel = openai.get("parallel_tool_calls").and_then(Value::as_bool);
        if let Some(choice) = tool_choice(openai.get("tool_choice"), parallel)? {
            out.insert("tool_choice".into(), choice);
        }
    }
    if openai.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
    }
    if let Some(user) = str_of(openai, "user") {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    Ok(Value::Object(out))
}

/// The `/v1/messages/count_tokens` body for an OpenAI `{"model",
/// "messages"}` request (tools and reasoning are counted too).
pub fn count_tokens_request(openai: &Value) -> Result<Value, String> {
    let full = messages_request(openai)?;
    let mut out = Map::new();
    for key in [
        "model",
        "system",
        "messages",
        "tools",
        "tool_choice",
        "thinking",
    ] {
        if let Some(value) = full.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

fn tools(tools: Option<&Value>) -> Result<Vec<Value>, String> {
    let Some(Value::Array(tools)) = tools else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for tool in tools {
        if str_of(tool, "type").is_some_and(|t| t != "function") {
            return Err("only function tools are supported".into());
        }
        let function = tool.get("function").ok_or("tool without \"function\"")?;
        let name = str_of(function, "name").ok_or("tool without a name")?;
        let mut converted = Map::new();
        converted.insert("name".into(), name.into());
        if let Some(description) = str_of(function, "description") {
            converted.insert("description".into(), description.into());
        }
        let schema = match function.get("parameters") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => json!({ "type": "object", "properties": {} }),
        };
        converted.insert("input_schema".into(), schema);
        out.push(Value::Object(converted));
    }
    Ok(out)
}

/// `tool_choice` (and `parallel_tool_calls: false`) → Anthropic's
/// `tool_choice`; `None` leaves Anthropic's default (auto).
fn tool_choice(choice: Option<&Value>, parallel: Option<bool>) -> Result<Option<Value>, String> {
    let mut choice = match choice {
        None | Some(Value::Null) if parallel == Some(false) => json!({ "type": "auto" }),
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({ "type": "auto" }),
            "none" => json!({ "type": "none" }),
            "required" => json!({ "type": "any" }),
            other => return Err(format!("unknown tool_choice {other:?}")),
        },
        Some(object) => {
            let name = object
                .get("function")
                .and_then(|f| str_of(f, "name"))
                .ok_or("tool_choice object needs function.name")?;
            json!({ "type": "tool", "name": name })
        }
    };
    if parallel == Some(false) && str_of(&choice, "type") != Some("none") {
        if let Some(obj) = choice.as_object_mut() {
            obj.insert("disable_parallel_tool_use".into(), true.into());
        }
    }
    Ok(Some(choice))
}

/// `thinking` for `reasoning_effort` low/medium/high (1024/4096/16384
/// budget tokens; minimal/none: off), or a `thinking` object passed as is.
fn thinking(openai: &Value) -> Result<Option<Value>, String> {
    let budget: u64 = match openai.get("reasoning_effort") {
        None | Some(Value::Null) => {
            return Ok(openai
                .get("thinking")
                .filter(|t| str_of(t, "type") == Some("enabled"))
                .cloned());
        }
        Some(Value::String(effort)) => match effort.as_str() {
            "low" => 1024,
            "medium" => 4096,
            "high" => 16384,
            "minimal" | "none" => return Ok(None),
            other => return Err(format!("unknown reasoning_effort {other:?}")),
        },
        Some(_) => return Err("reasoning_effort must be a string".into()),
    };
    Ok(Some(json!({ "type": "enabled", "budget_tokens": budget })))
}

/// `temperature` (at most 1) or else `top_p`, as given.
fn sampling(openai: &Value, out: &mut Map<String, Value>) {
    if let Some(temperature) = openai.get("temperature").filter(|t| t.is_number()) {
        let clamped = if temperature.as_f64().is_some_and(|t| t > 1.0) {
            json!(1.0)
        } else {
            temperature.clone()
        };
        out.insert("temperature".into(), clamped);
    } else if let Some(top_p) = openai.get("top_p").filter(|t| t.is_number()) {
        out.insert("top_p".into(), top_p.clone());
    }
}
