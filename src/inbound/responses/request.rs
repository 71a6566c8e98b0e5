//! The request: a Responses `POST /v1/responses` body becomes the OpenAI
//! chat request the proxy routes, plus what the answer side needs to map the
//! chat answer back ([`ChatRequest`]).

use serde_json::{json, Map, Value};

use super::input::{chat_messages, input_items};
use super::str_of;
use super::tools::{chat_tool_choice, chat_tools, ToolMap};

/// A translated Responses request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The OpenAI chat request (model kept as sent, e.g. `groq/llama-3.3`).
    pub chat: Map<String, Value>,
    /// How chat tool calls map back to client items; the dropped built-in
    /// tools.
    pub tools: ToolMap,
    /// The request fields a `response` object repeats (`instructions`,
    /// `tools`, `temperature`, `metadata`, …), defaults filled in.
    pub echo: Map<String, Value>,
    pub stream: bool,
    /// `store` (default true): keep the response for `previous_response_id`
    /// and `GET /v1/responses/{id}`.
    pub store: bool,
    pub previous_response_id: Option<String>,
    /// This request's own `input` as items (a string input becomes one user
    /// message), without `prior`: what `input_items` lists and a stored
    /// response keeps.
    pub input: Vec<Value>,
}

/// Fields that need a feature no chat provider has; refused rather than
/// silently ignored.
const REFUSED: &[(&str, &str)] = &[
    ("background", "background responses are not supported"),
    (
        "conversation",
        "conversations are not supported: use previous_response_id",
    ),
    (
        "prompt",
        "prompt templates are not supported: send instructions and input",
    ),
];

/// Translates a Responses request. `prior` holds the input and output items
/// of the `previous_response_id` chain (the route looks them up); they come
/// before this request's input. `instructions` are this request's only, as
/// OpenAI does: earlier instructions are not carried over.
///
/// Sent upstream: `model`, messages (system message from `instructions`,
/// then the items), tools and `tool_choice`/`parallel_tool_calls` (only when
/// a tool remains), `max_output_tokens` as `max_tokens`, `temperature`,
/// `top_p`, `reasoning.effort` as `reasoning_effort` (`xhigh` as `high`),
/// `text.format` as `response_format`, and for streams
/// `stream_options.include_usage`. Kept for the route or the answer only:
/// `store`, `previous_response_id`, `metadata`, `user`. Ignored: `include`,
/// `prompt_cache_key`, `service_tier`, `truncation`, `text.verbosity`,
/// `reasoning.summary`, `safety_identifier`, `top_logprobs`,
/// `max_tool_calls`, `stream_options`.
pub fn chat_request(body: &Value, prior: &[Value]) -> Result<ChatRequest, String> {
    if !body.is_object() {
        return Err("the request body must be a JSON object".into());
    }
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
        None | Some(Value::Null) => return Err("missing \"model\"".into()),
        Some(_) => return Err("\"model\" must be a non-empty string".into()),
    };
    for (field, why) in REFUSED {
        if body
            .get(*field)
            .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
        {
            return Err(format!("\"{field}\": {why}"));
        }
    }
    check_types(body)?;
    let input = input_items(body.get("input"))?;
    let (tools, map) = chat_tools(body.get("tools"))?;

    let mut messages = Vec::new();
    if let Some(instructions) = str_of(body, "instructions").filter(|i| !i.is_empty()) {
        messages.push(json!({ "role": "system", "content": instructions }));
    }
    chat_messages(prior, &map, &mut messages).map_err(|e| format!("previous response: {e}"))?;
    chat_messages(&input, &map, &mut messages)?;

    let mut chat = Map::new();
    chat.insert("model".into(), model.into());
    chat.insert("messages".into(), Value::Array(messages));
    if !tools.is_empty() {
        chat.insert("tools".into(), Value::Array(tools));
        if let Some(choice) =
            chat_tool_choice(body.get("tool_choice").unwrap_or(&Value::Null), &map)?
        {
            chat.insert("tool_choice".into(), choice);
        }
        if let Some(parallel) = body.get("parallel_tool_calls").filter(|p| p.is_boolean()) {
            chat.insert("parallel_tool_calls".into(), parallel.clone());
        }
    }
    if let Some(max) = body.get("max_output_tokens").filter(|m| m.is_number()) {
        chat.insert("max_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p"] {
        if let Some(value) = body.get(key).filter(|v| v.is_number()) {
            chat.insert(key.into(), value.clone());
        }
    }
    if let Some(effort) = body.get("reasoning").and_then(|r| str_of(r, "effort")) {
        let effort = if effort == "xhigh" { "high" } else { effort };
        chat.insert("reasoning_effort".into(), effort.into());
    }
    if let Some(format) = response_format(body.get("text"))? {
        chat.insert("response_format".into(), format);
    }
    let stream = body.get("stream") == Some(&Value::Bool(true));
    if stream {
        chat.insert("stream".into(), true.into());
        chat.insert("stream_options".into(), json!({ "include_usage": true }));
    }

    Ok(ChatRequest {
        chat,
        tools: map,
        echo: echo(body),
        stream,
        store: body.get("store") != Some(&Value::Bool(false)),
        previous_response_id: str_of(body, "previous_response_id").map(str::to_string),
        input,
    })
}

/// A field, the check of its type, and that type in words.
type FieldKind = (&'static str, fn(&Value) -> bool, &'static str);

/// Type checks of the top-level fields, so a wrong type is a 400 that names
/// the field rather than a provider's puzzling refusal.
fn check_types(body: &Value) -> Result<(), String> {
    let kinds: &[FieldKind] = &[
        ("instructions", Value::is_string, "a string"),
        ("stream", Value::is_boolean, "a boolean"),
        ("store", Value::is_boolean, "a boolean"),
        ("parallel_tool_calls", Value::is_boolean, "a boolean"),
        ("max_output_tokens", Value::is_u64, "a positive integer"),
        ("temperature", Value::is_number, "a number"),
        ("top_p", Value::is_number, "a number"),
        ("previous_response_id", Value::is_string, "a string"),
        ("metadata", Value::is_object, "an object"),
        ("user", Value::is_string, "a string"),
        ("reasoning", Value::is_object, "an object"),
        ("text", Value::is_object, "an object"),
    ];
    for (field, is_kind, kind) in kinds {
        match body.get(*field) {
            None | Some(Value::Null) => {}
            Some(value) if is_kind(value) => {}
            Some(_) => return Err(format!("\"{field}\" must be {kind}")),
        }
    }
    Ok(())
}

/// Chat `response_format` for `text.format`: `json_object` as is,
/// `json_schema` (flat in Responses: `name`, `schema`, `strict`) nested
/// under `json_schema`; `text` is the default and sends nothing.
fn response_format(text: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match str_of(format, "type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({ "type": "json_object" }))),
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or("text.format json_schema needs a \"schema\" object")?;
            let mut inner = Map::new();
            inner.insert(
                "name".into(),
                str_of(format, "name").unwrap_or("output").into(),
            );
            inner.insert("schema".into(), schema.clone());
            for key in ["strict", "description"] {
                if let Some(value) = format.get(key).filter(|v| !v.is_null()) {
                    inner.insert(key.into(), value.clone());
                }
            }
            Ok(Some(json!({ "type": "json_schema", "json_schema": inner })))
        }
        Some(other) => Err(format!(
            "unknown text.format type {other:?}: use \"text\", \"json_object\" or \"json_schema\""
        )),
        None => Err("text.format needs a \"type\"".into()),
    }
}

/// The request fields a `response` object repeats, with OpenAI's defaults
/// for the ones not sent.
fn echo(body: &Value) -> Map<String, Value> {
    let given = |key: &str, default: Value| {
        body.get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let mut echo = Map::new();
    echo.insert("instructions".into(), given("instructions", Value::Null));
    echo.insert(
        "max_output_tokens".into(),
        given("max_output_tokens", Value::Null),
    );
    echo.insert("metadata".into(), given("metadata", json!({})));
    echo.insert(
        "parallel_tool_calls".into(),
        given("parallel_tool_calls", true.into()),
    );
    echo.insert(
        "previous_response_id".into(),
        given("previous_response_id", Value::Null),
    );
    echo.insert(
        "reasoning".into(),
        given("reasoning", json!({ "effort": null, "summary": null })),
    );
    echo.insert("store".into(), given("store", true.into()));
    echo.insert("temperature".into(), given("temperature", Value::Null));
    echo.insert(
        "text".into(),
        given("text", json!({ "format": { "type": "text" } })),
    );
    echo.insert("tool_choice".into(), given("tool_choice", "auto".into()));
    echo.insert("tools".into(), given("tools", json!([])));
    echo.insert("top_p".into(), given("top_p", Value::Null));
    echo.insert("truncation".into(), given("truncation", "disabled".into()));
    echo.insert("user".into(), given("user", Value::Null));
    echo
}
