//! `POST /v1/responses` with tools: function, custom (free-form) and
//! namespace tools make the whole round trip through an OpenAI-compatible
//! provider (the call out as the client's item, its output back in as a
//! chat tool message); built-in tools are dropped and named in a header.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::responses::{events, names, output_text, post};
use mock_upstream::{Reply, StreamScript};

/// A chat answer calling `name` with `arguments` (call id `call_1`).
fn tool_call_answer(name: &str, arguments: &str) -> Reply {
    Reply::ok().with_body(json!({
        "id": "chatcmpl-tool", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": name, "arguments": arguments}}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
    }))
}

/// The one chat request whose body contained `needle`.
fn sent_with(app: &TestApp, needle: &str) -> Value {
    let bodies = app.mock.bodies_with(needle);
    assert_eq!(bodies.len(), 1, "{needle}: {bodies:?}");
    bodies[0].clone()
}

/// The messages of a chat request with `role`.
fn with_role(sent: &Value, role: &str) -> Vec<Value> {
    sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == role)
        .cloned()
        .collect()
}

#[actix_web::test]
async fn a_function_call_goes_out_and_its_output_comes_back_in() {
    let app = spawn_app().await;
    // The request carrying the output is answered with text; the first,
    // with the call.
    app.mock.reply_when("sunny-7", Reply::ok());
    app.mock.reply_when(
        "weather?",
        tool_call_answer("get_weather", r#"{"city":"Paris"}"#),
    );
    let parameters = json!({"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]});
    let tools = json!([{"type": "function", "name": "get_weather",
                        "description": "Weather of a city", "parameters": parameters}]);
    let body = json!({"model": "mock/m", "input": "weather?", "tools": tools,
                      "tool_choice": {"type": "function", "name": "get_weather"}});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    let call = response["output"][0].clone();
    assert_eq!(call["type"], "function_call", "{response}");
    assert_eq!(call["call_id"], "call_1");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(call["status"], "completed");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(response["usage"]["output_tokens"], 7);

    let sent = sent_with(&app, "weather?");
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "function": {"name": "get_weather",
                "description": "Weather of a city", "parameters": parameters}}])
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );

    // Round trip: the call and its output, as Codex sends them back.
    let input = json!([
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        call,
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny-7"}
    ]);
    let body = json!({"model": "mock/m", "input": input, "tools": tools});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(output_text(&answer.json()), "hello from mock");
    let sent = sent_with(&app, "sunny-7");
    let assistant = with_role(&sent, "assistant");
    assert_eq!(assistant.len(), 1, "{sent}");
    let chat_call = &assistant[0]["tool_calls"][0];
    assert_eq!(chat_call["id"], "call_1");
    assert_eq!(chat_call["function"]["name"], "get_weather");
    assert_eq!(chat_call["function"]["arguments"], r#"{"city":"Paris"}"#);
    let outputs = with_role(&sent, "tool");
    assert_eq!(
        outputs,
        [json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny-7"})]
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_streamed_function_call_is_its_item_and_argument_events() {
    let app = spawn_app().await;
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let call = |function: Value| json!({"tool_calls": [{"index": 0, "function": function}]});
    let script = vec![
        chunk(json!({"role": "assistant"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(call(json!({"arguments": "{\"city\":"})), Value::Null),
        chunk(call(json!({"arguments": "\"Oslo\"}"})), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 4,
               "total_tokens": 12}})
        .to_string(),
    ];
    app.mock.reply_when(
        "oslo-weather",
        Reply::ok().with_stream(StreamScript::raw(script)),
    );
    let tools =
        json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]);
    let body = json!({"model": "mock/m", "input": "oslo-weather", "tools": tools, "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let events = events(&answer.text);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[2].1["item"]["name"], "get_weather");
    assert_eq!(events[2].1["item"]["call_id"], "call_9");
    assert_eq!(events[5].1["arguments"], r#"{"city":"Oslo"}"#);
    let item = &events[6].1["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["arguments"], r#"{"city":"Oslo"}"#);
    let done = &events[7].1["response"];
    assert_eq!(done["output"], json!([item]));
    assert_eq!(done["usage"]["total_tokens"], 12);
    app.stop().await;
}

#[actix_web::test]
async fn a_custom_tool_is_a_one_string_function_and_comes_back_as_custom_tool_call() {
    let app = spawn_app().await;
    app.mock.reply_when("patch-out-3", Reply::ok());
    let arguments = json!({"input": "*** Begin Patch"}).to_string();
    app.mock
        .reply_when("patch it", tool_call_answer("apply_patch", &arguments));
    let tools = json!([{"type": "custom", "name": "apply_patch", "description": "Apply a patch",
                        "format": {"type": "grammar", "syntax": "lark",
                                   "definition": "start: /.+/"}}]);
    let body = json!({"model": "mock/m", "input": "patch it", "tools": tools});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let call = answer.json()["output"][0].clone();
    assert_eq!(call["type"], "custom_tool_call", "{call}");
    assert_eq!(call["call_id"], "call_1");
    assert_eq!(call["name"], "apply_patch");
    assert_eq!(call["input"], "*** Begin Patch");
    let sent = sent_with(&app, "patch it");
    let function = &sent["tools"][0]["function"];
    assert_eq!(function["name"], "apply_patch");
    assert_eq!(
        function["parameters"]["properties"]["input"]["type"],
        "string"
    );
    assert!(
        function["description"]
            .as_str()
            .unwrap()
            .contains("start: /.+/"),
        "the grammar reaches the model: {function}"
    );

    let input = json!([
        {"role": "user", "content": "patch it"},
        call,
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "patch-out-3"}
    ]);
    let answer = post(
        &app,
        &json!({"model": "mock/m", "input": input, "tools": tools}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = sent_with(&app, "patch-out-3");
    let assistant = with_role(&sent, "assistant");
    let chat_call = &assistant[0]["tool_calls"][0];
    assert_eq!(chat_call["function"]["name"], "apply_patch");
    let sent_arguments: Value =
        serde_json::from_str(chat_call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(sent_arguments, json!({"input": "*** Begin Patch"}));
    assert_eq!(with_role(&sent, "tool")[0]["content"], "patch-out-3");
    app.stop().await;
}

#[actix_web::test]
async fn a_namespace_tool_call_comes_back_with_name_and_namespace_split() {
    let app = spawn_app().await;
    app.mock.reply_when("file-body-5", Reply::ok());
    app.mock.reply_when(
        "read the file",
        tool_call_answer("mcp__files__read", r#"{"path":"a.txt"}"#),
    );
    let tools = json!([{"type": "namespace", "name": "mcp__files__", "description": "Files",
        "tools": [{"type": "function", "name": "read", "description": "Read a file",
                   "parameters": {"type": "object",
                                  "properties": {"path": {"type": "string"}}}}]}]);
    let body = json!({"model": "mock/m", "input": "read the file", "tools": tools});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let call = answer.json()["output"][0].clone();
    assert_eq!(call["type"], "function_call", "{call}");
    assert_eq!(call["name"], "read");
    assert_eq!(call["namespace"], "mcp__files__");
    let sent = sent_with(&app, "read the file");
    assert_eq!(sent["tools"][0]["function"]["name"], "mcp__files__read");

    let input = json!([
        {"role": "user", "content": "read the file"},
        call,
        {"type": "function_call_output", "call_id": "call_1", "output": "file-body-5"}
    ]);
    let answer = post(
        &app,
        &json!({"model": "mock/m", "input": input, "tools": tools}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = sent_with(&app, "file-body-5");
    let assistant = with_role(&sent, "assistant");
    let chat_call = &assistant[0]["tool_calls"][0];
    assert_eq!(chat_call["function"]["name"], "mcp__files__read");
    app.stop().await;
}

#[actix_web::test]
async fn built_in_tools_are_dropped_and_named_in_a_header() {
    let app = spawn_app().await;
    let tools = json!([
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}},
        {"type": "web_search", "search_context_size": "low"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]}
    ]);
    for stream in [false, true] {
        let body = json!({"model": "mock/m", "input": "search", "tools": tools,
                          "tool_choice": {"type": "web_search"}, "stream": stream});
        let answer = post(&app, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.dropped_tools.as_deref(),
            Some("web_search, file_search"),
            "stream: {stream}"
        );
        let sent = app.mock.last_body("/v1/chat/completions").unwrap();
        let sent_tools = sent["tools"].as_array().unwrap();
        assert_eq!(sent_tools.len(), 1, "{sent}");
        assert_eq!(sent_tools[0]["function"]["name"], "lookup");
        assert_eq!(sent["tool_choice"], "auto");
    }
    // Only built-ins: no tools reach the provider at all.
    let body = json!({"model": "mock/m", "input": "search", "tools": [{"type": "web_search"}]});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.dropped_tools.as_deref(), Some("web_search"));
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert!(sent.get("tools").is_none(), "{sent}");
    app.stop().await;
}
