//! Tests of the OpenAI → Gemini chat request conversion.

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

// ---- chat requests ----------------------------------------------------------

#[test]
fn basic_request_maps_roles_system_and_generation_config() {
    let body = chat_request(&parse(fixture!("request_basic.json"))).unwrap();
    assert_eq!(
        body,
        json!({
            "systemInstruction": { "parts": [{ "text": "You are a concise assistant.\n\nAnswer in English." }] },
            "contents": [
                { "role": "user", "parts": [{ "text": "What is the capital of France?" }] },
                { "role": "model", "parts": [{ "text": "Paris." }] },
                { "role": "user", "parts": [{ "text": "And its population?" }] },
            ],
            "generationConfig": {
                "maxOutputTokens": 256,
                "temperature": 0.2,
                "topP": 0.95,
                "stopSequences": ["\n\nUser:", "END"],
                "candidateCount": 1,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.3,
                "seed": 42,
                "responseMimeType": "application/json",
            },
        })
    );
}

#[test]
fn multimodal_parts_become_inline_and_file_data() {
    let body = chat_request(&parse(fixture!("request_multimodal.json"))).unwrap();
    let parts = &body["contents"][0]["parts"];
    assert_eq!(parts[0], json!({ "text": "Compare these three pictures." }));
    assert_eq!(parts[1]["inlineData"]["mimeType"], "image/png");
    assert!(parts[1]["inlineData"]["data"]
        .as_str()
        .unwrap()
        .starts_with("iVBORw0KGgo"));
    assert_eq!(parts[2]["fileData"]["mimeType"], "image/png");
    assert!(parts[2]["fileData"]["fileUri"]
        .as_str()
        .unwrap()
        .ends_with(".PNG?download=1"));
    assert_eq!(
        parts[3],
        json!({ "fileData": { "mimeType": "image/jpeg", "fileUri": "https://example.com/photos/cat" } })
    );
    assert_eq!(
        body["generationConfig"],
        json!({ "maxOutputTokens": 1024, "stopSequences": ["###"] })
    );
    assert!(body.get("systemInstruction").is_none());
}

#[test]
fn tool_request_maps_calls_results_declarations_and_choice() {
    let body = chat_request(&parse(fixture!("request_tools.json"))).unwrap();
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 5);
    // Both calls in one model turn; Gemini 3 gets the skip signature on the first.
    assert_eq!(
        contents[1],
        json!({ "role": "model", "parts": [
            { "functionCall": { "name": "get_weather", "args": { "city": "Paris", "unit": "celsius" } },
              "thoughtSignature": "skip_thought_signature_validator" },
            { "functionCall": { "name": "get_weather", "args": { "city": "Tokyo", "unit": "celsius" } } },
        ] })
    );
    // Both results in one user turn, names found through tool_call_id.
    assert_eq!(
        contents[2],
        json!({ "role": "user", "parts": [
            { "functionResponse": { "name": "get_weather",
                "response": { "content": { "temperature": 18, "conditions": "cloudy" } } } },
            { "functionResponse": { "name": "get_weather",
                "response": { "content": "Sunny, 24 degrees" } } },
        ] })
    );
    assert_eq!(contents[3]["role"], "model");
    assert_eq!(contents[4]["role"], "user");

    let declarations = body["tools"][0]["functionDeclarations"].as_array().unwrap();
    assert_eq!(declarations.len(), 3);
    assert_eq!(
        declarations[0]["parameters"],
        json!({
            "type": "object",
            "properties": {
                "city": { "type": "string", "description": "City name" },
                "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] },
                "options": {
                    "type": "object",
                    "properties": { "additionalProperties": {
                        "type": "boolean", "description": "a property that happens to share the keyword's name" } },
                },
                "tags": { "type": "array", "items": { "type": "object", "properties": { "k": { "type": "string" } } } },
            },
            "required": ["city"],
        })
    );
    assert!(declarations[0].get("strict").is_none());
    assert_eq!(declarations[1]["description"], "Save a note.");
    // A function without parameters is declared without `parameters`.
    assert_eq!(
        declarations[2],
        json!({ "name": "get_time", "description": "Current UTC time." })
    );
    assert_eq!(
        body["toolConfig"],
        json!({ "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["save_note"] } })
    );
}

#[test]
fn tool_choice_strings_map_to_modes() {
    let mut request = parse(fixture!("request_tools.json"));
    for (choice, mode) in [("none", "NONE"), ("auto", "AUTO"), ("required", "ANY")] {
        request["tool_choice"] = json!(choice);
        let body = chat_request(&request).unwrap();
        assert_eq!(
            body["toolConfig"],
            json!({ "functionCallingConfig": { "mode": mode } })
        );
    }
}

#[test]
fn older_models_get_no_skip_signature() {
    let mut request = parse(fixture!("request_tools.json"));
    request["model"] = json!("gemini-2.5-flash");
    let body = chat_request(&request).unwrap();
    assert!(body["contents"][1]["parts"][0]
        .get("thoughtSignature")
        .is_none());
}

#[test]
fn json_schema_response_format_and_reasoning_effort() {
    let body = chat_request(&parse(fixture!("request_json_schema.json"))).unwrap();
    assert_eq!(
        body["generationConfig"],
        json!({
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "date": { "type": "string" },
                    "participants": { "type": "array", "items": { "type": "string" } },
                },
                "required": ["name", "date", "participants"],
            },
            "thinkingConfig": { "thinkingBudget": 1024 },
        })
    );
}

#[test]
fn invalid_requests_are_rejected_with_a_message() {
    let cases = [
        (json!({ "messages": "hi" }), "`messages` must be an array"),
        (
            json!({ "messages": [{ "role": "user", "content": [{ "type": "video_url", "video_url": {} }] }] }),
            "unsupported content part type `video_url`",
        ),
        (
            json!({ "messages": [{ "role": "system", "content": "only a system prompt" }] }),
            "at least one",
        ),
        (
            json!({ "messages": [{ "role": "tool", "tool_call_id": "call_9", "content": "42" }] }),
            "matches no earlier assistant tool call",
        ),
        (
            json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "ftp://x/y.png" } }] }] }),
            "unsupported URL",
        ),
        (
            json!({ "messages": [{ "role": "user", "content": "hi" }], "stop": 5 }),
            "`stop`",
        ),
        (
            json!({ "messages": [{ "role": "assistant", "tool_calls": [{ "id": "c", "function": { "name": "f", "arguments": "{nope" } }] }] }),
            "not valid JSON",
        ),
    ];
    for (request, expected) in cases {
        let error = chat_request(&request).unwrap_err();
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }
}

#[test]
fn chat_paths() {
    assert_eq!(
        chat_path("gemini-2.5-flash", false),
        "/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        chat_path("models/gemini-2.5-flash", true),
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}
