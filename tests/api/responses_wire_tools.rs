//! `POST /v1/responses` tool calls through the other wire formats: a
//! Gemini `functionCall` and an Anthropic `tool_use` come back as
//! `function_call` items (JSON and streamed), and the client's
//! `function_call_output` goes back as the provider's own tool result
//! (`functionResponse`, `tool_result`) — the round trip Codex and the
//! Agents SDK make, whichever provider answers.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::responses::{events, output_text, post};
use mock_upstream::{Reply, StreamScript};

const TOOLS: &str = r#"[{"type": "function", "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]"#;

/// A proxy with one key of `provider` at the mock.
async fn app_of(provider: &'static str) -> TestApp {
    spawn_with(Options {
        provider,
        keys: vec![KEY_1],
        ..Options::default()
    })
    .await
}

/// Gemini's answer calling `get_weather` for Paris.
fn gemini_call() -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
           "finishReason": "STOP", "index": 0}],
           "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 7,
                             "totalTokenCount": 27}})
}

/// Anthropic's answer calling `get_weather` for Paris.
fn anthropic_call() -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
           "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                        "input": {"city": "Paris"}}],
           "stop_reason": "tool_use", "stop_sequence": null,
           "usage": {"input_tokens": 20, "output_tokens": 7}})
}

/// The first turn (the call) and the second (its output, answered with
/// the mock's text) for `model`: returns the call item and the provider's
/// second request body, read from `path`.
async fn round_trip(app: &TestApp, model: &str, path: &str) -> (Value, Value) {
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let first = json!({"model": model, "input": "weather?", "tools": tools});
    let answer = post(app, &first).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let response = answer.json();
    let call = response["output"][0].clone();
    assert_eq!(call["type"], "function_call", "{response}");
    assert_eq!(call["name"], "get_weather");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    assert!(!call["call_id"].as_str().unwrap().is_empty(), "{call}");
    assert_eq!(response["usage"]["output_tokens"], 7);

    let input = json!([
        {"role": "user", "content": "weather?"},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny-7"}
    ]);
    let second = json!({"model": model, "input": input, "tools": tools});
    let answer = post(app, &second).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(!output_text(&answer.json()).is_empty(), "{}", answer.text);
    (call, app.mock.last_body(path).unwrap())
}

#[actix_web::test]
async fn a_gemini_function_call_makes_the_round_trip() {
    let app = app_of("gemini").await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_body(gemini_call()), Reply::ok()],
    );
    let path = "/v1beta/models/m:generateContent";
    let (_, sent) = round_trip(&app, "gemini/m", path).await;
    let declared = &sent["tools"][0]["functionDeclarations"][0];
    assert_eq!(declared["name"], "get_weather", "{sent}");
    let contents = sent["contents"].as_array().unwrap();
    let parts: Vec<&Value> = contents
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap())
        .collect();
    let asked = parts.iter().find(|p| p.get("functionCall").is_some());
    assert_eq!(
        asked.unwrap()["functionCall"]["args"],
        json!({"city": "Paris"}),
        "{sent}"
    );
    let answered = parts.iter().find(|p| p.get("functionResponse").is_some());
    let answered = &answered.expect("a functionResponse part")["functionResponse"];
    assert_eq!(answered["name"], "get_weather", "{sent}");
    assert!(
        answered["response"].to_string().contains("sunny-7"),
        "{sent}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn an_anthropic_tool_use_makes_the_round_trip() {
    let app = app_of("anthropic").await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::ok().with_body(anthropic_call()), Reply::ok()],
    );
    let (call, sent) = round_trip(&app, "anthropic/m", "/v1/messages").await;
    assert_eq!(call["call_id"], "toolu_1");
    let messages = sent["messages"].as_array().unwrap();
    let blocks: Vec<&Value> = messages
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .collect();
    let used = blocks.iter().find(|b| b["type"] == "tool_use").unwrap();
    assert_eq!(used["id"], "toolu_1", "{sent}");
    assert_eq!(used["input"], json!({"city": "Paris"}));
    let result = blocks.iter().find(|b| b["type"] == "tool_result").unwrap();
    assert_eq!(result["tool_use_id"], "toolu_1", "{sent}");
    assert!(result.to_string().contains("sunny-7"), "{sent}");
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    app.stop().await;
}

#[actix_web::test]
async fn a_streamed_call_is_a_function_call_item_in_every_wire_format() {
    let gemini = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
           "finishReason": "STOP", "index": 0}],
           "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 7,
                             "totalTokenCount": 27}});
    let anthropic = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
               "role": "assistant", "model": "m", "content": [], "stop_reason": null,
               "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block":
               {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta":
               {"type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
               "usage": {"output_tokens": 7}}),
        json!({"type": "message_stop"}),
    ];
    let cases = [("gemini", vec![gemini]), ("anthropic", anthropic)];
    for (provider, events_sent) in cases {
        let app = app_of(provider).await;
        let frames = events_sent.iter().map(Value::to_string).collect();
        let script = StreamScript::raw(frames).without_done();
        app.mock
            .script(KEY_1, "m", vec![Reply::ok().with_stream(script)]);
        let tools: Value = serde_json::from_str(TOOLS).unwrap();
        let body = json!({"model": format!("{provider}/m"), "input": "weather?",
                          "tools": tools, "stream": true});
        let answer = post(&app, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{provider}: {}", answer.text);
        let events = events(&answer.text);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"response.function_call_arguments.done"),
            "{provider}: {names:?}"
        );
        let (last, done) = events.last().unwrap();
        assert_eq!(last, "response.completed", "{provider}: {names:?}");
        let item = &done["response"]["output"][0];
        assert_eq!(item["type"], "function_call", "{provider}: {done}");
        assert_eq!(item["name"], "get_weather");
        let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "Paris"}), "{provider}");
        assert_eq!(done["response"]["usage"]["output_tokens"], 7, "{provider}");
        app.stop().await;
    }
}
