//! `POST /v1/messages`: Anthropic-API clients, any provider behind.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

pub fn request(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}]
    })
}

/// POST with Anthropic's headers: status, headers' retry-after, body text.
pub async fn post(
    app: &TestApp,
    path: &str,
    body: &Value,
    key: &str,
) -> (StatusCode, Option<String>, String) {
    let mut res = app
        .client
        .post(app.url(path))
        .insert_header(("x-api-key", key))
        .insert_header(("anthropic-version", "2023-06-01"))
        .send_json(body)
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let mut text = String::new();
    while let Some(chunk) = res.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    (res.status(), retry_after, text)
}

/// `(event name, data)` of an Anthropic event stream.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_string(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[actix_web::test]
async fn a_message_is_answered_in_anthropic_shape_from_an_openai_provider() {
    let app = spawn_app().await;
    let (status, _, text) = post(&app, "/v1/messages", &request("mock/m"), PROXY_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["role"], "assistant");
    assert_eq!(
        answer["content"][0],
        json!({"type": "text", "text": "hello from mock"})
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(answer["usage"]["output_tokens"], 5);
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["model"], "m");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["max_tokens"], 256);
    app.stop().await;
}

#[actix_web::test]
async fn a_streamed_message_is_the_anthropic_event_sequence() {
    let app = spawn_app().await;
    let mut body = request("mock/m");
    body["stream"] = json!(true);
    let (status, _, text) = post(&app, "/v1/messages", &body, PROXY_KEY).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let events = events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(
        &names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{names:?}"
    );
    assert!(names.contains(&"content_block_start") && names.contains(&"content_block_stop"));
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "hello from mock");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        delta["usage"]["output_tokens"], 3,
        "usage folded into message_delta"
    );
    app.stop().await;
}

#[actix_web::test]
async fn failures_use_anthropic_errors_and_real_statuses() {
    let app = spawn_app().await;
    // Wrong key.
    let (status, _, text) = post(&app, "/v1/messages", &request("mock/m"), "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");
    // Unknown provider.
    let (status, _, text) = post(&app, "/v1/messages", &request("nope/m"), PROXY_KEY).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "invalid_request_error"
    );
    // The provider refuses the request itself.
    app.mock.script(KEY_1, "bad", vec![Reply::status(400)]);
    let (status, _, text) = post(&app, "/v1/messages", &request("mock/bad"), PROXY_KEY).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["message"],
        "mock 400"
    );
    // Every key rate-limited: 429 with Retry-After, never a 200 with nothing.
    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "busy",
            vec![Reply::status(429).with_header("Retry-After", "600")],
        );
    }
    let mut body = request("mock/busy");
    body["stream"] = json!(true);
    let (status, retry_after, text) = post(&app, "/v1/messages", &body, PROXY_KEY).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert!(retry_after.is_some());
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "rate_limit_error"
    );
    // A provider answer that cannot be translated is a 502, not "no keys".
    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "odd",
            vec![Reply::ok().with_body(json!({"id": "x", "object": "chat.completion"}))],
        );
    }
    let (status, _, text) = post(&app, "/v1/messages", &request("mock/odd"), PROXY_KEY).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["type"],
        "error"
    );
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_and_methods_under_messages_answer_in_anthropic_shape() {
    let app = spawn_app().await;
    for (method, path, expected) in [
        ("GET", "/v1/messages", StatusCode::METHOD_NOT_ALLOWED),
        ("POST", "/v1/messages/batches", StatusCode::NOT_FOUND),
    ] {
        let mut res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .insert_header(("x-api-key", PROXY_KEY))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected, "{method} {path}");
        let body: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
        assert_eq!(body["type"], "error", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(path));
    }
    // The OpenAI routes keep OpenAI's envelope.
    let res = app
        .client
        .get(app.url("/v1/nope"))
        .bearer_auth(PROXY_KEY)
        .send()
        .await;
    let body: Value = serde_json::from_slice(&res.unwrap().body().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    app.stop().await;
}

#[actix_web::test]
async fn bearer_auth_works_too_and_tokens_can_be_counted() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/v1/messages/count_tokens"))
        .bearer_auth(PROXY_KEY)
        .send_json(&json!({"model": "mock/gpt-4o", "messages": [{"role": "user", "content": "hello world"}]}))
        .await;
    let mut res = res.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let counted: Value = res.json().await.unwrap();
    assert_eq!(counted["input_tokens"], 9, "{counted}");
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_that_fails_after_output_began_ends_with_an_error_event() {
    use mock_upstream::StreamScript;
    let app = spawn_app().await;
    let error = json!({"error": {"message": "overloaded", "type": "server_error"}}).to_string();
    let mut failing = StreamScript::chat("m", &["partial"], false);
    failing.events.truncate(2);
    failing.events.push(error);
    let cut = StreamScript::chat("c", &["one", "two"], false).cut_after(2);
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(failing)]);
    for key in [KEY_1, KEY_2] {
        app.mock
            .script(key, "c", vec![Reply::ok().with_stream(cut.clone())]);
    }
    for model in ["mock/m", "mock/c"] {
        let mut body = request(model);
        body["stream"] = json!(true);
        let (status, _, text) = post(&app, "/v1/messages", &body, PROXY_KEY).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let events = events(&text);
        let (last, data) = events.last().unwrap();
        assert_eq!(last, "error", "{model}: {events:?}");
        assert_eq!(data["type"], "error");
        assert!(
            !events.iter().any(|(n, _)| n == "message_stop"),
            "{model}: no clean end after a failure"
        );
    }
    app.stop().await;
}
