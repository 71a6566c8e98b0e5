//! Cheap shape checks on a client's request, made before any provider is
//! called: a malformed request is a 400 that says what is wrong, never an
//! upstream call that fails (and may cool a key down) for the client's
//! mistake.
//!
//! This module owns the rules every client API shares: the client's
//! `model` string ([`check_model_id`]), the chat `messages` array
//! ([`check_messages`]) and the `stream` flag ([`stream_flag`]). Rules that
//! depend on where an upstream format puts the model (Gemini's URL) belong
//! to that format (`WireFormat::check_model`).

use serde_json::{Map, Value};

use crate::error::{describe_char, ApiError};

/// Longest `model` accepted, in characters. Real ids are far shorter (the
/// longest OpenRouter and Fireworks ids are under 100); the bound keeps a
/// runaway value out of logs, metrics labels and error messages.
pub const MAX_MODEL_CHARS: usize = 256;

/// What a chat message must look like, for error messages.
const MESSAGE_EXAMPLE: &str = r#"e.g. [{"role": "user", "content": "Hello"}]"#;

/// Refuses a `model` that no provider names: longer than
/// [`MAX_MODEL_CHARS`], or with whitespace or control characters (which
/// could also split a URL or a log line). The message names the character.
pub fn check_model_id(model: &str) -> Result<(), ApiError> {
    let chars = model.chars().count();
    if chars > MAX_MODEL_CHARS {
        return Err(ApiError::invalid_param(
            format!(
                "`model` is {chars} characters long; the limit is {MAX_MODEL_CHARS}: send \
                 \"<provider>/<model>\" as the provider names the model"
            ),
            "model",
        ));
    }
    if let Some((at, bad)) = model
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid_param(
            format!(
                "model \"{model}\" contains {} at character {}: model ids have no whitespace \
                 or control characters",
                describe_char(bad),
                at + 1
            ),
            "model",
        ));
    }
    Ok(())
}

/// Refuses a chat request whose `messages` is not a non-empty array of
/// objects, each with a string `role`. Only the shape is checked: what a
/// role or a content may be is the provider's to judge.
pub fn check_messages(body: &Map<String, Value>) -> Result<(), ApiError> {
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_param(
                format!("`messages` is required: send the conversation, {MESSAGE_EXAMPLE}"),
                "messages",
            ))
        }
        Some(other) => {
            return Err(ApiError::invalid_param(
                format!(
                    "`messages` must be an array of messages, not {}: {MESSAGE_EXAMPLE}",
                    kind(other)
                ),
                "messages",
            ))
        }
    };
    if messages.is_empty() {
        return Err(ApiError::invalid_param(
            format!("`messages` is empty: send at least one message, {MESSAGE_EXAMPLE}"),
            "messages",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(ApiError::invalid_param(
                format!(
                    "`messages[{i}]` must be an object with a `role`, not {}: {MESSAGE_EXAMPLE}",
                    kind(message)
                ),
                "messages",
            ));
        };
        match message.get("role") {
            Some(Value::String(_)) => {}
            None => {
                return Err(ApiError::invalid_param(
                    format!(
                        "`messages[{i}]` has no `role`: give each message one (\"system\", \
                         \"user\", \"assistant\" or \"tool\")"
                    ),
                    "messages",
                ))
            }
            Some(other) => {
                return Err(ApiError::invalid_param(
                    format!(
                        "`messages[{i}].role` must be a string such as \"user\", not {}",
                        kind(other)
                    ),
                    "messages",
                ))
            }
        }
    }
    Ok(())
}

/// Refuses a legacy completion or embeddings request whose `field`
/// (`prompt`, `input`) is not text in one of the shapes OpenAI accepts: a
/// string, or a non-empty array of strings, of token ids, or of non-empty
/// arrays of token ids.
pub fn check_texts(body: &Map<String, Value>, field: &'static str) -> Result<(), ApiError> {
    let shapes = "a string, or an array of strings (or of token ids), e.g. \"Hello\" or \
                  [\"Hello\", \"World\"]";
    let refuse = |what: String| Err(ApiError::invalid_param(what, field));
    let items = match body.get(field) {
        Some(Value::String(_)) => return Ok(()),
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return refuse(format!("`{field}` is required: {shapes}")),
        Some(other) => return refuse(format!("`{field}` must be {shapes}, not {}", kind(other))),
    };
    let token_ids = |v: &Value| {
        v.as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_u64))
    };
    let valid = |v: &Value| v.is_string() || v.is_u64() || token_ids(v);
    if items.is_empty() {
        return refuse(format!("`{field}` is empty: {shapes}"));
    }
    if let Some((i, odd)) = items.iter().enumerate().find(|(_, v)| !valid(v)) {
        return refuse(format!(
            "`{field}[{i}]` is {}, not a string, a token id or an array of token ids: \
             `{field}` must be {shapes}",
            kind(odd)
        ));
    }
    let uniform = items.iter().all(Value::is_string)
        || items.iter().all(Value::is_u64)
        || items.iter().all(token_ids);
    if !uniform {
        return refuse(format!(
            "`{field}` mixes strings, token ids and arrays of token ids: use one kind, {shapes}"
        ));
    }
    Ok(())
}

/// A JSON value's kind, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `stream` as a boolean (absent or null = false).
pub fn stream_flag(body: &Map<String, Value>) -> Result<bool, ApiError> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid_param(
            "`stream` must be true or false",
            "stream",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(body: Value) -> Result<(), String> {
        check_messages(body.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn model_ids_without_whitespace_or_control_characters() {
        for ok in [
            "openai/gpt-4o",
            "ollama/llama3:8b",
            "fireworks/accounts/fireworks/models/x",
            "openrouter/meta-llama/Llama-3-8b",
        ] {
            assert!(check_model_id(ok).is_ok(), "{ok}");
        }
        let err = check_model_id("gemini/a b").unwrap_err().to_string();
        assert!(err.contains("a space at character 9"), "{err}");
        let err = check_model_id("openai/gpt\u{7}").unwrap_err().to_string();
        assert!(err.contains("U+0007"), "{err}");
        let err = check_model_id(" openai/gpt-4o").unwrap_err().to_string();
        assert!(err.contains("character 1"), "{err}");
        assert!(check_model_id(&"m".repeat(MAX_MODEL_CHARS)).is_ok());
        let err = check_model_id(&"m".repeat(MAX_MODEL_CHARS + 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("257 characters") && !err.contains("mmmm"),
            "{err}"
        );
    }

    #[test]
    fn messages_must_be_a_non_empty_array_of_objects_with_a_role() {
        assert!(messages(json!({"messages": [{"role": "user", "content": "hi"}]})).is_ok());
        let cases = [
            (json!({}), "`messages` is required"),
            (json!({"messages": null}), "`messages` is required"),
            (json!({"messages": "hi"}), "not a string"),
            (json!({"messages": []}), "`messages` is empty"),
            (
                json!({"messages": ["hi"]}),
                "`messages[0]` must be an object",
            ),
            (
                json!({"messages": [{"role": "user"}, {"content": "x"}]}),
                "`messages[1]` has no `role`",
            ),
            (
                json!({"messages": [{"role": 1}]}),
                "`messages[0].role` must be a string",
            ),
        ];
        for (body, expected) in cases {
            let err = messages(body.clone()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    #[test]
    fn stream_flag_values() {
        assert!(!stream_flag(json!({}).as_object().unwrap()).unwrap());
        assert!(stream_flag(json!({"stream":true}).as_object().unwrap()).unwrap());
        assert!(stream_flag(json!({"stream":"yes"}).as_object().unwrap()).is_err());
    }

    #[test]
    fn prompt_and_input_must_be_text() {
        let check = |body: Value, field| {
            let body = body.as_object().unwrap().clone();
            check_texts(&body, field).map_err(|e| e.to_string())
        };
        for ok in [
            json!("hi"),
            json!(["a", "b"]),
            json!([1, 2]),
            json!([[1], [2, 3]]),
        ] {
            assert_eq!(check(json!({ "prompt": ok }), "prompt"), Ok(()), "{ok}");
        }
        for (input, says) in [
            (json!(null), "`input` is required"),
            (json!(42), "not a number"),
            (json!({"text": "hi"}), "not an object"),
            (json!([]), "`input` is empty"),
            (json!(["a", {}]), "`input[1]` is an object"),
            (json!([[]]), "`input[0]` is an array"),
            (json!([1.5]), "`input[0]` is a number"),
            (json!(["a", 1]), "mixes strings"),
        ] {
            let err = check(json!({ "input": input }), "input").unwrap_err();
            assert!(err.contains(says), "{input}: {err}");
        }
        let missing = check(json!({}), "prompt").unwrap_err();
        assert!(missing.contains("`prompt` is required"), "{missing}");
    }
}
