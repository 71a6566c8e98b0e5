//! Tests of the inbound stream converter (`stream.rs`) on recorded
//! streams: exact event sequences, errors, and a round trip Anthropic →
//! OpenAI → Anthropic through the outbound converter.

use serde_json::{json, Value};

use super::*;
use crate::providers::anthropic::testing::{parse, sse_events};
use crate::providers::anthropic::ToOpenAiStream;

fn names(events: &[(&'static str, Value)]) -> Vec<&'static str> {
    events.iter().map(|(name, _)| *name).collect()
}

#[test]
fn openai_stream_becomes_anthropic_events_in_order() {
    let mut stream = ToAnthropicStream::new("groq/llama-3.3-70b-versatile");
    let mut events = Vec::new();
    for (_, chunk) in sse_events(fixture!("in_openai_stream.sse")) {
        events.extend(stream.events(&chunk));
    }
    events.extend(stream.finish());
    assert!(stream.finish().is_empty(), "finish runs once");
    assert!(stream
        .events(&json!({"choices":[{"delta":{"content":"late"}}]}))
        .is_empty());

    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], *name);
    }
    let message = &events[0].1["message"];
    assert_eq!(message["id"], "msg_0e7a1c55-88b2-4f0e-b7f4-5c2d1a9e3f10");
    assert_eq!(message["model"], "groq/llama-3.3-70b-versatile");
    assert_eq!(message["content"], json!([]));
    let data: Vec<&Value> = events.iter().map(|(_, d)| d).collect();
    assert_eq!(data[1]["content_block"], json!({"type":"text","text":""}));
    assert_eq!(
        data[2]["delta"],
        json!({"type":"text_delta","text":"I'll check"})
    );
    assert_eq!(data[3]["delta"]["text"], " both cities.");
    assert_eq!(data[4]["index"], 0);
    assert_eq!(data[5]["index"], 1);
    assert_eq!(
        data[5]["content_block"],
        json!({"type":"tool_use","id":"call_d4s8hk21","name":"get_weather","input":{}})
    );
    let args: String = data[6..8]
        .iter()
        .map(|d| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(parse(&args), json!({"location":"Paris, FR"}));
    assert_eq!(data[8]["index"], 1);
    assert_eq!(data[9]["index"], 2);
    assert_eq!(data[9]["content_block"]["id"], "call_p0w3n7zq");
    assert_eq!(
        data[10]["delta"],
        json!({"type":"input_json_delta","partial_json":"{\"location\": \"Lyon, FR\"}"})
    );
    assert_eq!(data[11]["index"], 2);
    assert_eq!(
        data[12],
        &json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
            "usage":{"input_tokens":311,"output_tokens":48,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})
    );
}

#[test]
fn stream_reasoning_empty_and_error_cases() {
    let mut stream = ToAnthropicStream::new("deepseek/deepseek-reasoner");
    let mut events = Vec::new();
    for delta in [
        json!({"reasoning_content":"Think"}),
        json!({"reasoning_content":"ing."}),
        json!({"content":"Hi"}),
    ] {
        events.extend(
            stream.events(
                &json!({"id":"x","choices":[{"index":0,"delta":delta,"finish_reason":null}]}),
            ),
        );
    }
    events.extend(
        stream.events(&json!({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})),
    );
    events.extend(stream.finish());
    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(events[1].1["content_block"]["type"], "thinking");
    assert_eq!(
        events[3].1["delta"],
        json!({"type":"thinking_delta","thinking":"ing."})
    );
    assert_eq!(events[5].1["index"], 1);
    assert_eq!(events[8].1["delta"]["stop_reason"], "max_tokens");
    assert_eq!(events[8].1["usage"], json!({"output_tokens":0}));

    // No chunk at all: still a well-formed, empty message.
    let mut empty = ToAnthropicStream::new("m");
    assert_eq!(
        names(&empty.finish()),
        vec!["message_start", "message_delta", "message_stop"]
    );

    // (OpenAI error, Anthropic error type)
    let table = [
        (
            json!({"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}),
            "api_error",
        ),
        (
            json!({"message":"Bad key","type":"invalid_request_error","code":"invalid_api_key"}),
            "invalid_request_error",
        ),
        (json!({"message":"busy","code":529}), "overloaded_error"),
        (
            json!({"message":"slow down","status":"429"}),
            "rate_limit_error",
        ),
        (json!("upstream closed"), "api_error"),
    ];
    for (error, kind) in table {
        let mut stream = ToAnthropicStream::new("m");
        stream.events(&json!({"id":"c","choices":[{"delta":{"content":"par"}}]}));
        let out = stream.events(&json!({"error": error}));
        assert_eq!(names(&out), vec!["error"]);
        assert_eq!(out[0].1["type"], "error");
        assert_eq!(out[0].1["error"]["type"], kind, "{error}");
        assert!(!out[0].1["error"]["message"].as_str().unwrap().is_empty());
        assert!(stream.finish().is_empty(), "no message_stop after an error");
    }
}

#[test]
fn anthropic_stream_round_trips_through_openai_chunks() {
    let recorded = sse_events(fixture!("out_anthropic_stream.sse"));
    let mut to_openai = ToOpenAiStream::new(0);
    let mut to_anthropic = ToAnthropicStream::new("claude-sonnet-4-5-20250929");
    let mut events = Vec::new();
    for (_, data) in &recorded {
        for chunk in to_openai.chunks(data) {
            events.extend(to_anthropic.events(&chunk));
        }
    }
    events.extend(to_anthropic.finish());
    let skipped = |d: &Value| d["type"] == "ping" || d["delta"]["type"] == "signature_delta";
    let original: Vec<&str> = recorded
        .iter()
        .filter(|(_, d)| !skipped(d) && d["delta"]["partial_json"] != "")
        .filter_map(|(name, _)| name.as_deref())
        .collect();
    assert_eq!(names(&events), original);
    let last = &events[events.len() - 2].1;
    assert_eq!(last["delta"]["stop_reason"], "tool_use");
    assert_eq!(last["usage"]["input_tokens"], 472);
    assert_eq!(last["usage"]["cache_read_input_tokens"], 1024);
    assert_eq!(last["usage"]["output_tokens"], 89);
}
