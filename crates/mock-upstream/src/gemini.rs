//! The mock's Gemini dialect: `/v1beta/models/{model}:{action}` with the key
//! in `x-goog-api-key`, scripted and counted like the OpenAI routes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::script::StreamScript;
use super::serve::{json_response, lock, scripted_for, stream_response, Shared};

pub(super) async fn handle(
    state: &Shared,
    req: &HttpRequest,
    path: &str,
    body: Option<Value>,
) -> HttpResponse {
    if path == "/v1beta/models" {
        let models: Vec<Value> = lock(state)
            .models
            .iter()
            .map(|id| json!({"name": format!("models/{id}"), "supportedGenerationMethods": ["generateContent"]}))
            .collect();
        return json_response(StatusCode::OK, &[], &json!({"models": models}));
    }
    let Some((model, action)) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.split_once(':'))
    else {
        return json_response(StatusCode::NOT_FOUND, &[], &error(404, "NOT_FOUND"));
    };
    let key = req
        .headers()
        .get("x-goog-api-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = body.unwrap_or(Value::Null);
    let unavailable = |code| error(code, "UNAVAILABLE");
    let (status, reply, guard) =
        match scripted_for(state, &key, model, Some(&body), unavailable).await {
            Ok(response) => return response,
            Err(default) => default,
        };
    match action {
        "generateContent" => json_response(status, &reply.headers, &response("hello from gemini")),
        "streamGenerateContent" => stream_response(
            status,
            &reply.headers,
            stream(&["hello", " from", " gemini"]),
            guard,
        ),
        "embedContent" => json_response(
            status,
            &reply.headers,
            &json!({"embedding": {"values": [0.1, 0.2, 0.3]}}),
        ),
        "batchEmbedContents" => {
            let n = body["requests"].as_array().map_or(0, Vec::len);
            let embeddings: Vec<Value> =
                (0..n).map(|_| json!({"values": [0.1, 0.2, 0.3]})).collect();
            json_response(status, &reply.headers, &json!({"embeddings": embeddings}))
        }
        "countTokens" => json_response(status, &reply.headers, &json!({"totalTokens": 7})),
        _ => json_response(StatusCode::NOT_FOUND, &[], &error(404, "NOT_FOUND")),
    }
}

/// A Gemini error body, e.g. `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED",…}}`.
pub fn error(code: u16, status: &str) -> Value {
    json!({"error": {"code": code, "message": format!("mock {code}"), "status": status}})
}

/// A `generateContent` answer with one text candidate.
pub fn response(text: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": "gemini-mock",
        "responseId": "mock-response-1"
    })
}

/// A `streamGenerateContent?alt=sse` script: one event per word, the last
/// with the finish reason and usage; no `[DONE]` (Gemini sends none).
pub fn stream(words: &[&str]) -> StreamScript {
    let mut events: Vec<String> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let mut event = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": word}]}, "index": 0}]});
        if i + 1 == words.len() {
            event["candidates"][0]["finishReason"] = json!("STOP");
            event["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": words.len(), "totalTokenCount": 10 + words.len()});
        }
        events.push(event.to_string());
    }
    StreamScript {
        send_done: false,
        ..StreamScript::raw(events)
    }
}
