//! The real openai Python SDK (`pip install openai`, which `.ci/run`
//! installs) against `/v1/responses`: `responses.stream(...)
//! .get_final_response()` assembles the same response from the event
//! stream as `responses.create` gets whole — text and a function call.
//! Skipped, with a message, when Python or the package is missing.
//!
//! The interpreter is `$LLMKP_PYTHON` (`.ci/run` points it at its venv),
//! else `python3`.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/openai_sdk_responses.py"
);

/// A Python that imports `openai`, or `None` (skipped).
fn python_or_skip() -> Option<String> {
    let python = std::env::var("LLMKP_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import openai; print(openai.__version__)"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Some(python),
        Ok(_) => skip_without(format!(
            "the openai Python package is not installed for `{python}`; \
             `pip install openai` (.ci/run does)"
        )),
        Err(e) => skip_without(format!("cannot run `{python}`: {e}")),
    }
}

/// A chat completion with usage 10/3, as JSON or as a stream.
fn chat_replies(delta: Value, message: Value, finish: &str) -> [Reply; 2] {
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13});
    let whole = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": usage});
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let events = vec![
        chunk(json!({"role": "assistant"}), Value::Null),
        chunk(delta, Value::Null),
        chunk(json!({}), json!(finish)),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [], "usage": usage})
        .to_string(),
    ];
    [
        Reply::ok().with_body(whole),
        Reply::ok().with_stream(StreamScript::raw(events)),
    ]
}

/// `response` without what differs between two calls: its id, creation
/// time, and the item ids derived from the id; and without the fields
/// the SDK adds to a streamed response (its `ParsedResponse` type:
/// `parsed` on text parts, `parsed_arguments` on function calls, both
/// `None` without a `text_format` or strict tools).
fn comparable(response: &Value) -> Value {
    let mut response = response.clone();
    let unparsed = |v: &mut Value, field: &str| {
        let parsed = v.as_object_mut().unwrap().remove(field);
        assert!(parsed.is_none_or(|p| p.is_null()), "{v}");
    };
    for item in response["output"].as_array_mut().unwrap() {
        unparsed(item, "parsed_arguments");
        for part in item["content"].as_array_mut().into_iter().flatten() {
            unparsed(part, "parsed");
        }
    }
    let id = response["id"].as_str().unwrap().to_string();
    let base = id.strip_prefix("resp_").unwrap();
    response["id"] = Value::Null;
    response["created_at"] = Value::Null;
    let text = response.to_string().replace(base, "ID");
    serde_json::from_str(&text).unwrap()
}

#[actix_web::test]
async fn get_final_response_assembles_what_create_returns() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let app = spawn_with(Options {
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await;
    let mut replies = Vec::new();
    replies.extend(chat_replies(
        json!({"content": "Sunny, 21 C."}),
        json!({"role": "assistant", "content": "Sunny, 21 C."}),
        "stop",
    ));
    let call = json!([{"index": 0, "id": "call_7", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]);
    replies.extend(chat_replies(
        json!({"tool_calls": call}),
        json!({"role": "assistant", "content": null, "tool_calls": call}),
        "tool_calls",
    ));
    app.mock.script(KEY_1, "m", replies.to_vec());

    let base = app.url("/v1");
    let run = actix_rt::task::spawn_blocking(move || {
        Command::new(python)
            .args([SCRIPT, &base, PROXY_KEY, "mock/m"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the SDK script failed: {stderr}");
    let out: Value = serde_json::from_slice(&run.stdout).unwrap();

    let text = &out["text"];
    assert_eq!(text["plain_text"], "Sunny, 21 C.", "{text}");
    assert_eq!(text["streamed_text"], "Sunny, 21 C.");
    assert_eq!(text["plain"]["status"], "completed");
    assert_eq!(text["plain"]["usage"]["total_tokens"], 13);
    assert_eq!(comparable(&text["streamed"]), comparable(&text["plain"]));

    let tool = &out["tool"];
    let item = &tool["plain"]["output"][0];
    assert_eq!(item["type"], "function_call", "{tool}");
    assert_eq!(item["call_id"], "call_7");
    assert_eq!(item["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(comparable(&tool["streamed"]), comparable(&tool["plain"]));
    assert_eq!(app.mock.total_calls(), 4);
    app.stop().await;
}
