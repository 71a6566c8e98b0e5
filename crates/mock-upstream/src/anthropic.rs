//! The mock's Anthropic dialect: `POST /v1/messages` (and `count_tokens`)
//! with the key in `x-api-key`, scripted and counted like the OpenAI routes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::script::StreamScript;
use super::serve::{json_response, scripted_for, stream_response, Shared};

pub(super) async fn handle(
    state: &Shared,
    req: &HttpRequest,
    path: &str,
    body: Option<Value>,
) -> HttpResponse {
    let body = body.unwrap_or(Value::Null);
    if path == "/v1/messages/count_tokens" {
        return json_response(StatusCode::OK, &[], &json!({"input_tokens": 11}));
    }
    let key = req
        .headers()
        .get("x-api-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let (status, reply, guard) = match scripted_for(state, &key, &model, Some(&body), error).await {
        Ok(response) => return response,
        Err(default) => default,
    };
    if body["stream"] == json!(true) {
        return stream_response(
            status,
            &reply.headers,
            stream(&model, &["hello", " from", " claude"]),
            guard,
        );
    }
    json_response(
        status,
        &reply.headers,
        &response(&model, "hello from claude"),
    )
}

/// Anthropic's error envelope.
pub fn error(code: u16) -> Value {
    let kind = match code {
        401 => "authentication_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": format!("mock {code}")}})
}

/// A Messages API answer with one text block.
pub fn response(model: &str, text: &str) -> Value {
    json!({
        "id": "msg_mock_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 4}
    })
}

/// A Messages stream: message_start, one text block with a delta per
/// word, message_delta with the stop reason and usage, message_stop.
pub fn stream(model: &str, words: &[&str]) -> StreamScript {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_mock_2", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for word in words {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": words.len()}}));
    events.push(json!({"type": "message_stop"}));
    StreamScript {
        send_done: false,
        ..StreamScript::raw(events.iter().map(Value::to_string).collect())
    }
}
