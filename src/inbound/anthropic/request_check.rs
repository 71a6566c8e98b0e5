//! Field checks for an inbound Anthropic Messages request, before it is
//! translated: a field of the wrong type is refused with a message naming
//! it, instead of being silently dropped or read as its default (a
//! `"stream": "yes"` must not become a JSON answer).

use serde_json::Value;

/// How error messages show a model name.
const MODEL_EXAMPLE: &str = "e.g. \"groq/llama-3.1-8b-instant\"";

/// Checks the types of the fields the translation reads. Fields it does
/// not read (`metadata`, `thinking`, `context_management`,
/// `output_config`, …) are not checked: they are dropped.
pub(super) fn check_fields(anthropic: &Value) -> Result<(), String> {
    let Some(body) = anthropic.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    match body.get("model") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) => {
            return Err(format!(
                "`model` is required: name the provider and the model, {MODEL_EXAMPLE}"
            ))
        }
        Some(_) => return Err(format!("`model` must be a string like {MODEL_EXAMPLE}")),
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return Err(
            "`messages` must be an array of {\"role\", \"content\"} objects, e.g. \
             [{\"role\": \"user\", \"content\": \"Hello\"}]"
                .into(),
        );
    }
    let present = |key: &str| body.get(key).filter(|v| !v.is_null());
    if present("stream").is_some_and(|v| !v.is_boolean()) {
        return Err("`stream` must be true or false".into());
    }
    if present("max_tokens").is_some_and(|v| !matches!(v.as_u64(), Some(n) if n > 0)) {
        return Err("`max_tokens` must be a positive integer".into());
    }
    for key in ["temperature", "top_p", "top_k"] {
        if present(key).is_some_and(|v| !v.is_number()) {
            return Err(format!("`{key}` must be a number"));
        }
    }
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    if present("stop_sequences").is_some_and(|v| !strings(v)) {
        return Err("`stop_sequences` must be an array of strings".into());
    }
    let objects = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_object));
    if present("tools").is_some_and(|v| !objects(v)) {
        return Err("`tools` must be an array of tool objects".into());
    }
    if present("tool_choice").is_some_and(|v| !v.is_object()) {
        return Err("`tool_choice` must be an object, e.g. {\"type\": \"auto\"}".into());
    }
    Ok(())
}
