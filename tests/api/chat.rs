//! Non-streaming chat and embeddings through the proxy.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn chat_completion_is_forwarded_with_bare_model_and_prefixed_answer() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/gpt-test", "messages": [{"role":"user","content":"hi"}], "x_unknown": {"a": 1}});
    let (status, answer) = app.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model"], "mock/gpt-test");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "hello from mock"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["model"], "gpt-test");
    assert_eq!(
        sent["x_unknown"],
        json!({"a": 1}),
        "unknown fields pass through"
    );
    assert!(sent.get("stream_options").is_none());
    assert_eq!(app.mock.total_calls(), 1);
    let auth = app
        .mock
        .last_header("/v1/chat/completions", "authorization")
        .unwrap();
    assert_eq!(auth, format!("Bearer {KEY_1}"));
    app.stop().await;
}

#[actix_web::test]
async fn usage_is_recorded_per_key_and_model() {
    let app = spawn_app().await;
    assert_eq!(app.chat("mock/m1").await.0, StatusCode::OK);
    let usage = app.usage_of(KEY_1, "m1").await;
    assert_eq!(usage["daily"]["requests"], 1);
    assert_eq!(usage["daily"]["successes"], 1);
    assert_eq!(usage["daily"]["prompt_tokens"], 10);
    assert_eq!(usage["daily"]["completion_tokens"], 5);
    assert_eq!(usage["lifetime"]["successes"], 1);
    app.stop().await;
}

#[actix_web::test]
async fn embeddings_go_to_the_embeddings_endpoint() {
    let app = spawn_app().await;
    let body = json!({"model": "mock/embed-small", "input": ["one", "two"]});
    let (status, answer) = app.post_json("/v1/embeddings", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(answer["model"], "mock/embed-small");
    assert_eq!(app.mock.path_calls("/v1/embeddings"), 1);
    assert_eq!(app.mock.path_calls("/v1/chat/completions"), 0);
    assert_eq!(
        app.mock.last_body("/v1/embeddings").unwrap()["model"],
        "embed-small"
    );
    let single = json!({"model": "mock/embed-small", "input": "just one"});
    let (status, answer) = app.post_json("/v1/embeddings", &single).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["data"].as_array().unwrap().len(), 1);
    let usage = app.usage_of(KEY_1, "embed-small").await;
    assert_eq!(usage["daily"]["prompt_tokens"], 4);
    app.stop().await;
}

#[actix_web::test]
async fn a_large_body_goes_upstream_whole_with_its_length() {
    let app = spawn_app().await;
    // Past the 64 KB slices awc is handed: several of them, and a rest.
    let content = "x".repeat(200_000);
    let body = json!({"model": "mock/m", "messages": [{"role": "user", "content": content}]});
    let (status, _) = app.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, StatusCode::OK);
    let path = "/v1/chat/completions";
    let sent = app.mock.last_body(path).unwrap();
    assert_eq!(sent["messages"][0]["content"], content.as_str());
    let length: usize = app
        .mock
        .last_header(path, "content-length")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, serde_json::to_vec(&sent).unwrap().len());
    assert_eq!(app.mock.last_header(path, "transfer-encoding"), None);
    app.stop().await;
}
