//! Request translation: exact chat requests for Responses requests shaped
//! like the ones Codex CLI and the openai SDK send, and the 400 messages.

use serde_json::{json, Value};

use super::*;

fn chat(body: Value) -> Value {
    Value::Object(chat_request(&body, &[]).unwrap().chat)
}

fn error(body: Value) -> String {
    chat_request(&body, &[]).unwrap_err()
}

#[test]
fn string_input_with_instructions_and_settings() {
    let request = chat_request(
        &json!({
            "model": "groq/llama-3.3-70b", "input": "Hi", "instructions": "Be brief.",
            "max_output_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stream": true,
            "store": false, "metadata": {"k": "v"}, "user": "u1",
            "reasoning": {"effort": "xhigh", "summary": "auto"},
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "abc",
        }),
        &[],
    )
    .unwrap();
    assert_eq!(
        Value::Object(request.chat),
        json!({
            "model": "groq/llama-3.3-70b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "max_tokens": 50, "temperature": 0.2, "top_p": 0.9,
            "reasoning_effort": "high",
            "stream": true, "stream_options": {"include_usage": true},
        })
    );
    assert!(request.stream);
    assert!(!request.store);
    assert_eq!(
        request.input,
        vec![json!({"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]})]
    );
    assert_eq!(request.echo["metadata"], json!({"k": "v"}));
    assert_eq!(request.echo["user"], "u1");
    assert_eq!(request.echo["store"], false);
    assert_eq!(request.echo["tool_choice"], "auto");
    assert_eq!(request.echo["text"], json!({"format": {"type": "text"}}));
}

#[test]
fn message_items_of_every_role_and_part() {
    let got = chat(json!({"model": "p/m", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Rules"}]},
        {"role": "system", "content": "More rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
        ]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "A cat.", "annotations": []},
        ]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
        {"type": "message", "role": "assistant", "content": []},
        {"role": "user", "content": [{"type": "input_text", "text": "One"}, {"type": "input_text", "text": "Two"}]},
    ]}));
    assert_eq!(
        got["messages"],
        json!([
            {"role": "system", "content": "Rules"},
            {"role": "system", "content": "More rules"},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"}},
            ]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "One\n\nTwo"},
        ])
    );
}

#[test]
fn function_call_round_trip_as_codex_sends_it() {
    let got = chat(json!({"model": "p/m", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List files"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "I'll run ls"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running ls."}]},
        {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}", "call_id": "call_1"},
        {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}", "call_id": "call_2"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "/tmp"}, {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "message", "role": "user", "content": "Thanks"},
    ]}));
    let call = |id: &str, cmd: &str| {
        json!({"id": id, "type": "function",
        "function": {"name": "shell", "arguments": format!("{{\"command\":[\"{cmd}\"]}}")}})
    };
    assert_eq!(
        got["messages"],
        json!([
            {"role": "user", "content": "List files"},
            {"role": "assistant", "content": "Running ls.", "tool_calls": [call("call_1", "ls"), call("call_2", "pwd")]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
            {"role": "tool", "tool_call_id": "call_2", "content": "/tmp"},
            {"role": "user", "content": [
                {"type": "text", "text": "Images returned by the tool calls above:"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ]},
            {"role": "user", "content": "Thanks"},
        ])
    );
}

#[test]
fn prior_items_come_first_and_instructions_stay_first() {
    let prior = [
        json!({"type": "message", "role": "user", "content": "Hi"}),
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]}),
    ];
    let request = chat_request(
        &json!({"model": "p/m", "instructions": "Sys", "previous_response_id": "resp_1", "input": "Again"}),
        &prior,
    )
    .unwrap();
    assert_eq!(request.previous_response_id.as_deref(), Some("resp_1"));
    assert_eq!(
        request.chat["messages"],
        json!([
            {"role": "system", "content": "Sys"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Again"},
        ])
    );
    assert_eq!(request.input.len(), 1, "stored input is this request's own");
}

#[test]
fn text_format_becomes_response_format() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let got = chat(json!({"model": "p/m", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": true}, "verbosity": "low"}}));
    assert_eq!(
        got["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": true}})
    );
    let got =
        chat(json!({"model": "p/m", "input": "x", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(got["response_format"], json!({"type": "json_object"}));
    let got = chat(json!({"model": "p/m", "input": "x", "text": {"format": {"type": "text"}}}));
    assert_eq!(got.get("response_format"), None);
}

#[test]
fn bad_requests_say_what_is_wrong() {
    assert_eq!(error(json!({"input": "x"})), "missing \"model\"");
    assert_eq!(error(json!({"model": "p/m"})), "missing \"input\"");
    assert_eq!(
        error(json!({"model": 3, "input": "x"})),
        "\"model\" must be a non-empty string"
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": 42})),
        "\"input\" must be a string or an array of items"
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": [{"type": "magic"}]})),
        "input[0]: unknown item type \"magic\""
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": [{"role": "robot", "content": "x"}]})),
        "input[0]: unknown role \"robot\": use \"user\", \"assistant\", \"system\" or \"developer\""
    );
    assert_eq!(
        error(
            json!({"model": "p/m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]})
        ),
        "input[0]: content[0]: unknown content part type \"input_audio\""
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": [{"type": "function_call_output", "output": "x"}]})),
        "input[0]: a tool output needs a \"call_id\""
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": "x", "temperature": "hot"})),
        "\"temperature\" must be a number"
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": "x", "tools": [{"type": "function"}]})),
        "tools[0]: missing \"name\""
    );
    assert_eq!(
        error(
            json!({"model": "p/m", "input": "x", "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "function", "name": "g"}})
        ),
        "tool_choice names \"g\", which is not in \"tools\""
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": "x", "tools": [
            {"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]})),
        "tools[0]: tools[0]: a namespace holds \"function\" and \"custom\" tools, not \"web_search\""
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": "x", "background": true})),
        "\"background\": background responses are not supported"
    );
    assert_eq!(
        error(json!({"model": "p/m", "input": "x", "text": {"format": {"type": "yaml"}}})),
        "unknown text.format type \"yaml\": use \"text\", \"json_object\" or \"json_schema\""
    );
}
