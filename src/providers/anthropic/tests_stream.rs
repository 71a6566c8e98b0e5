//! Tests of the outbound stream converter (`stream_out.rs`) on recorded
//! streams: exact chunk sequences and errors. The inbound converter and the
//! round trip through both are tested in `crate::inbound::anthropic`.

use serde_json::{json, Value};

use super::testing::sse_events;
use super::*;

/// The `(delta, finish_reason)` of a chunk, or `("usage", usage)` for a
/// usage-only chunk.
fn summary(chunk: &Value) -> (Value, Value) {
    match chunk["choices"].as_array().unwrap().first() {
        Some(choice) => (choice["delta"].clone(), choice["finish_reason"].clone()),
        None => (json!("usage"), chunk["usage"].clone()),
    }
}

#[test]
fn recorded_stream_becomes_openai_chunks() {
    let mut stream = ToOpenAiStream::new(1_760_450_900);
    let mut chunks = Vec::new();
    for (name, data) in sse_events(fixture!("out_anthropic_stream.sse")) {
        assert_eq!(
            name.as_deref(),
            data["type"].as_str(),
            "fixture event names match"
        );
        chunks.extend(stream.chunks(&data));
    }
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["id"], "msg_01TmxYd7pSz4LkX9b2Qq8Vw3");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["created"], 1_760_450_900);
        assert_eq!(chunk["model"], "claude-sonnet-4-5-20250929");
    }
    let got: Vec<(Value, Value)> = chunks.iter().map(summary).collect();
    let tool = |args: &str| json!({"tool_calls":[{"index":0,"function":{"arguments":args}}]});
    let expected = vec![
        (json!({"role":"assistant","content":""}), Value::Null),
        (
            json!({"reasoning_content":"The user wants the weather in San Francisco."}),
            Value::Null,
        ),
        (
            json!({"reasoning_content":" I'll call get_weather."}),
            Value::Null,
        ),
        (json!({"content":"Okay"}), Value::Null),
        (
            json!({"content":", let's check the weather for San Francisco, CA:"}),
            Value::Null,
        ),
        (
            json!({"tool_calls":[{"index":0,"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function",
                "function":{"name":"get_weather","arguments":""}}]}),
            Value::Null,
        ),
        (tool("{\"location\":"), Value::Null),
        (tool(" \"San Fra"), Value::Null),
        (tool("ncisco, CA\""), Value::Null),
        (tool(", \"unit\": \"fah"), Value::Null),
        (tool("renheit\"}"), Value::Null),
        (json!({}), json!("tool_calls")),
        (
            json!("usage"),
            json!({"prompt_tokens":1496,"completion_tokens":89,"total_tokens":1585,
                   "prompt_tokens_details":{"cached_tokens":1024}}),
        ),
    ];
    assert_eq!(got, expected);
}

#[test]
fn stream_error_ping_and_second_tool_call() {
    let mut stream = ToOpenAiStream::new(1);
    assert!(stream.chunks(&json!({"type":"ping"})).is_empty());
    assert!(stream.chunks(&json!({"type":"message_stop"})).is_empty());
    assert!(stream.chunks(&json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})).is_empty());
    for index in [0, 3] {
        let start = json!({"type":"content_block_start","index":index,
            "content_block":{"type":"tool_use","id":format!("t{index}"),"name":"f","input":{}}});
        stream.chunks(&start);
    }
    let delta = json!({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}});
    let out = stream.chunks(&delta);
    assert_eq!(out[0]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);

    let error = json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}});
    assert_eq!(
        stream.chunks(&error),
        vec![json!({"error":{"message":"Overloaded","type":"overloaded_error"}})]
    );
}
