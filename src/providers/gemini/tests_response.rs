//! Tests of Gemini answers, streams, errors, embeddings, token counts and
//! model lists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use super::*;

macro_rules! fixture {
    ($file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gemini/",
            $file
        ))
    };
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// One parsed event per non-empty line.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse)
        .collect()
}

// ---- chat responses ---------------------------------------------------------

#[test]
fn basic_response_becomes_a_chat_completion() {
    let answer = chat_response(
        &parse(fixture!("response_basic.json")),
        "gemini/gemini-2.5-flash",
        1_752_600_000,
    )
    .unwrap();
    assert_eq!(
        answer,
        json!({
            "id": "chatcmpl-mSx3aPnHI4uZ1dkP7e-J8Ag",
            "object": "chat.completion",
            "created": 1_752_600_000,
            "model": "gemini/gemini-2.5-flash",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": "Paris has about 2.1 million inhabitants within the city limits." },
                "finish_reason": "stop",
            }],
            "usage": { "prompt_tokens": 21, "completion_tokens": 12, "total_tokens": 33 },
        })
    );
}

#[test]
fn tool_call_response_has_tool_calls_and_null_content() {
    let answer = chat_response(
        &parse(fixture!("response_tool_call.json")),
        "gemini-2.5-flash",
        7,
    )
    .unwrap();
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "call_0_0");
    assert_eq!(calls[1]["id"], "call_0_1");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value = parse(calls[1]["function"]["arguments"].as_str().unwrap());
    assert_eq!(args, json!({ "city": "Tokyo", "unit": "celsius" }));
    // Thoughts count as completion tokens.
    assert_eq!(
        answer["usage"],
        json!({ "prompt_tokens": 96, "completion_tokens": 119, "total_tokens": 215,
                "completion_tokens_details": { "reasoning_tokens": 79 } })
    );
}

#[test]
fn thought_parts_go_to_reasoning_content_and_cache_is_reported() {
    let answer = chat_response(
        &parse(fixture!("response_thinking.json")),
        "gemini-2.5-pro",
        1,
    )
    .unwrap();
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["content"], "There are **3** r's in \"strawberry\".");
    assert!(message["reasoning_content"]
        .as_str()
        .unwrap()
        .starts_with("**Counting the letters**"));
    assert_eq!(answer["usage"]["prompt_tokens"], 1210);
    assert_eq!(answer["usage"]["completion_tokens"], 326);
    assert_eq!(answer["usage"]["total_tokens"], 1536);
    assert_eq!(
        answer["usage"]["prompt_tokens_details"],
        json!({ "cached_tokens": 1024 })
    );
}

#[test]
fn max_tokens_and_safety_finish_reasons() {
    let answer = chat_response(
        &parse(fixture!("response_max_tokens.json")),
        "gemini-2.0-flash",
        3,
    )
    .unwrap();
    assert_eq!(answer["id"], "chatcmpl-gemini-3");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["choices"][1]["index"], 1);
    assert_eq!(answer["choices"][1]["finish_reason"], "content_filter");
    assert_eq!(answer["choices"][1]["message"]["content"], "");
}

#[test]
fn blocked_prompt_gives_one_content_filter_choice() {
    let answer = chat_response(
        &parse(fixture!("response_blocked.json")),
        "gemini-2.5-flash",
        3,
    )
    .unwrap();
    assert_eq!(
        answer["choices"],
        json!([{ "index": 0, "message": { "role": "assistant", "content": "" }, "finish_reason": "content_filter" }])
    );
    assert_eq!(answer["usage"]["prompt_tokens"], 14);
    assert_eq!(answer["usage"]["completion_tokens"], 0);
}

#[test]
fn error_bodies_are_read_and_refused() {
    let body = parse(fixture!("error_resource_exhausted.json"));
    let error = api_error(&body).unwrap();
    assert_eq!(error.code, 429);
    assert_eq!(error.status, "RESOURCE_EXHAUSTED");
    assert!(error.message.starts_with("You exceeded your current quota"));
    let raw = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        super::retry_info::retry_delay(&raw),
        Some(std::time::Duration::new(37, 482_911_000))
    );
    let refused = chat_response(&body, "gemini-2.5-flash", 0).unwrap_err();
    assert!(refused.starts_with("Gemini error 429 RESOURCE_EXHAUSTED: You exceeded"));
    assert!(embeddings_response(&body, "m").is_err());

    let array_form = api_error(&parse(fixture!("error_invalid_argument.json"))).unwrap();
    assert_eq!(array_form.code, 400);
    assert!(api_error(&parse(fixture!("response_basic.json"))).is_none());
    assert!(chat_response(&json!({}), "m", 0).is_err());
}

// ---- streams ----------------------------------------------------------------

#[test]
fn text_stream_gives_role_then_deltas_then_finish_and_usage() {
    let mut state = StreamState::new("gemini/gemini-2.5-flash", 99);
    let chunks: Vec<Value> = events(fixture!("stream_text.jsonl"))
        .iter()
        .flat_map(|event| state.chunks(event))
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["id"], "chatcmpl-mSx3aPnHI4uZ1dkP7e-J8Ag");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["created"], 99);
        assert_eq!(chunk["model"], "gemini/gemini-2.5-flash");
    }
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(chunks.len(), 6);
    assert_eq!(deltas[0]["role"], "assistant");
    assert!(deltas[0]["reasoning_content"]
        .as_str()
        .unwrap()
        .starts_with("**Planning"));
    assert_eq!(*deltas[1], json!({ "content": "Waves fold into foam," }));
    assert_eq!(
        *deltas[3],
        json!({ "content": "\nthe tide keeps its time." })
    );
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(
        chunks[4]["choices"][0],
        json!({ "index": 0, "delta": {}, "finish_reason": "stop" })
    );
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(
        chunks[5]["usage"],
        json!({ "prompt_tokens": 9, "completion_tokens": 67, "total_tokens": 76,
                "completion_tokens_details": { "reasoning_tokens": 48 } })
    );
}

#[test]
fn tool_call_stream_gives_one_chunk_per_call() {
    let mut state = StreamState::new("gemini-2.5-flash", 5);
    let events = events(fixture!("stream_tool_call.jsonl"));
    let first = state.chunks(&events[0]);
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0]["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "Let me check both cities." })
    );
    let rest = state.chunks(&events[1]);
    assert_eq!(rest.len(), 4);
    for (n, city) in ["Paris", "Tokyo"].iter().enumerate() {
        let delta = &rest[n]["choices"][0]["delta"];
        assert!(delta.get("role").is_none());
        let call = &delta["tool_calls"][0];
        assert_eq!(call["index"], n);
        assert_eq!(call["id"], format!("call_0_{n}"));
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args = parse(call["function"]["arguments"].as_str().unwrap());
        assert_eq!(args["city"], *city);
    }
    assert_eq!(rest[2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(rest[3]["usage"]["total_tokens"], 142);
}

#[test]
fn blocked_stream_gives_a_content_filter_chunk() {
    let mut state = StreamState::new("gemini-2.5-flash", 5);
    let chunks = state.chunks(&events(fixture!("stream_blocked.jsonl"))[0]);
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        chunks[0]["choices"][0],
        json!({ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": "content_filter" })
    );
    assert_eq!(chunks[1]["usage"]["prompt_tokens"], 11);
}

#[test]
fn finish_without_content_still_sends_the_role() {
    let mut state = StreamState::new("m", 1);
    let chunks = state.chunks(&json!({ "candidates": [{ "content": { "parts": [{ "text": "" }], "role": "model" }, "finishReason": "MAX_TOKENS" }] }));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["id"], "chatcmpl-gemini-1");
    assert_eq!(
        chunks[0]["choices"][0],
        json!({ "index": 0, "delta": { "role": "assistant", "content": null }, "finish_reason": "length" })
    );
}

#[test]
fn stream_error_event_becomes_an_openai_error() {
    let mut state = StreamState::new("m", 1);
    let chunks = state.chunks(&parse(fixture!("error_resource_exhausted.json")));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["error"]["code"], 429);
    assert_eq!(chunks[0]["error"]["type"], "RESOURCE_EXHAUSTED");
    // The details survive, so the stream's failure is classified like a
    // non-streaming one: a per-minute limit with the provider's delay.
    let event = chunks[0].to_string();
    let verdict = crate::providers::classify_stream_error(&event, chrono::Utc::now());
    let crate::vocab::Verdict::Failed(crate::vocab::Failure { kind, hint }) = verdict else {
        panic!("not a failure: {verdict:?}");
    };
    assert_eq!(kind, crate::vocab::FailureKind::RateLimited);
    assert_eq!(hint.map(|h| h.as_millis()), Some(37_482));
}

#[test]
fn a_per_day_quota_in_a_stream_error_is_a_quota_failure() {
    let mut state = StreamState::new("m", 1);
    let event = json!({ "error": { "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
        "details": [{ "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{ "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }] }] } });
    let chunks = state.chunks(&event);
    let verdict =
        crate::providers::classify_stream_error(&chunks[0].to_string(), chrono::Utc::now());
    assert!(
        matches!(
            verdict,
            crate::vocab::Verdict::Failed(crate::vocab::Failure {
                kind: crate::vocab::FailureKind::Quota,
                ..
            })
        ),
        "{verdict:?}"
    );
}

// ---- embeddings, token counts, models ----------------------------------------

#[test]
fn embeddings_requests() {
    let (path, body) = embeddings_request(
        &json!({ "model": "x", "input": "hello world" }),
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(path, "/models/gemini-embedding-001:embedContent");
    assert_eq!(
        body,
        json!({ "content": { "parts": [{ "text": "hello world" }] } })
    );

    let request = json!({ "input": ["a", "b"], "dimensions": 768 });
    let (path, body) = embeddings_request(&request, "gemini-embedding-001").unwrap();
    assert_eq!(path, "/models/gemini-embedding-001:batchEmbedContents");
    assert_eq!(
        body,
        json!({ "requests": [
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "a" }] }, "outputDimensionality": 768 },
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "b" }] }, "outputDimensionality": 768 },
        ] })
    );
    assert!(embeddings_request(&json!({ "input": [[1, 2, 3]] }), "m").is_err());
    assert!(embeddings_request(&json!({ "input": [] }), "m").is_err());
    assert!(embeddings_request(&json!({}), "m").is_err());
}

#[test]
fn embeddings_responses() {
    let single = embeddings_response(
        &parse(fixture!("embed_single_response.json")),
        "gemini/gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(single["object"], "list");
    assert_eq!(single["model"], "gemini/gemini-embedding-001");
    assert_eq!(single["data"].as_array().unwrap().len(), 1);
    assert_eq!(single["data"][0]["object"], "embedding");
    assert_eq!(single["data"][0]["index"], 0);
    assert_eq!(single["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(
        single["usage"],
        json!({ "prompt_tokens": 0, "total_tokens": 0 })
    );

    let batch = embeddings_response(&parse(fixture!("embed_batch_response.json")), "m").unwrap();
    let data = batch["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);
    assert_eq!(data[2]["embedding"][0], 0.0058624144);
    assert!(embeddings_response(&json!({ "foo": 1 }), "m").is_err());
}

#[test]
fn count_tokens_requests_and_response() {
    let (path, body) =
        count_tokens_request(&json!({ "text": "How many tokens?" }), "gemini-2.5-flash").unwrap();
    assert_eq!(path, "/models/gemini-2.5-flash:countTokens");
    assert_eq!(
        body,
        json!({ "contents": [{ "parts": [{ "text": "How many tokens?" }] }] })
    );

    let messages = json!({ "messages": [
        { "role": "system", "content": "Be brief." },
        { "role": "user", "content": "Hi" },
    ] });
    let (_, body) = count_tokens_request(&messages, "gemini-2.5-flash").unwrap();
    assert_eq!(
        body,
        json!({ "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "systemInstruction": { "parts": [{ "text": "Be brief." }] },
            "contents": [{ "role": "user", "parts": [{ "text": "Hi" }] }],
        } })
    );
    assert!(count_tokens_request(&json!({ "prompt": "x" }), "m").is_err());

    assert_eq!(
        count_tokens_response(&parse(fixture!("count_tokens_response.json"))),
        Some(31)
    );
    assert_eq!(count_tokens_response(&json!({})), None);
}

#[test]
fn model_list_ids() {
    assert_eq!(
        model_ids(&parse(fixture!("models_list.json"))),
        ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"]
    );
    assert!(model_ids(&json!({})).is_empty());
}
