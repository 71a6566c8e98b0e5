//! The native Anthropic format end to end: OpenAI in, Messages API out.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{anthropic, Reply};

async fn anthropic_app() -> TestApp {
    spawn_with(Options {
        provider: "anthropic",
        ..Options::default()
    })
    .await
}

#[actix_web::test]
async fn chat_goes_to_the_messages_api_and_comes_back_in_openai_shape() {
    let app = anthropic_app().await;
    let body = json!({
        "model": "anthropic/claude-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"}
        ]
    });
    let (status, answer) = app.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model"], "anthropic/claude-test");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "hello from claude"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["prompt_tokens"], 12);

    let path = "/v1/messages";
    assert_eq!(
        app.mock.last_header(path, "x-api-key").as_deref(),
        Some(KEY_1)
    );
    assert_eq!(
        app.mock.last_header(path, "anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(app.mock.last_header(path, "authorization"), None);
    let sent = app.mock.last_body(path).unwrap();
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["max_tokens"], 4096, "Anthropic requires max_tokens");
    assert_eq!(
        sent["messages"].as_array().unwrap().len(),
        1,
        "the system message moved out: {sent}"
    );
    assert!(
        sent["messages"][0]["content"]
            .to_string()
            .contains("\"hi\""),
        "{sent}"
    );
    assert_eq!(sent["messages"][0]["role"], "user");
    app.stop().await;
}

#[actix_web::test]
async fn streams_are_translated_into_openai_chunks() {
    let app = anthropic_app().await;
    let body = json!({"model": "anthropic/claude-test", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, events) = app.chat_stream(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "hello from claude");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "{events:?}"
    );
    assert!(
        !chunks.iter().any(|c| c["choices"] == json!([])),
        "no usage chunk unless asked"
    );
    let usage = app.usage_in("anthropic", KEY_1, "claude-test").await;
    assert_eq!(usage["daily"]["successes"], 1);
    assert_eq!(usage["daily"]["completion_tokens"], 3);
    app.stop().await;
}

#[actix_web::test]
async fn rate_limit_reset_headers_rest_the_key() {
    let app = anthropic_app().await;
    let reset = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
    app.mock.script(
        KEY_1,
        "claude-test",
        vec![Reply::status(429)
            .with_body(anthropic::error(429))
            .with_header("anthropic-ratelimit-requests-reset", &reset)],
    );
    let (status, answer) = app.chat("anthropic/claude-test").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (
            app.mock.calls(KEY_1, "claude-test"),
            app.mock.calls(KEY_2, "claude-test")
        ),
        (1, 1)
    );
    let usage = app.usage_in("anthropic", KEY_1, "claude-test").await;
    let until =
        chrono::DateTime::parse_from_rfc3339(usage["cooldown_until"].as_str().unwrap()).unwrap();
    let rest = until.to_utc() - chrono::Utc::now();
    assert!(
        (110..=121).contains(&rest.num_seconds()),
        "the reset header decides: {usage}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn embeddings_are_refused_clearly() {
    let app = anthropic_app().await;
    let (status, answer) = app
        .post_json(
            "/v1/embeddings",
            &json!({"model": "anthropic/claude-test", "input": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no embeddings API"));
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn token_counts_use_anthropic_count_tokens() {
    let app = anthropic_app().await;
    let body = json!({"model": "anthropic/claude-test", "messages": [{"role": "user", "content": "hello world"}]});
    let (status, answer) = app.post_json("/v1/token-count", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_count"], 11, "the mock's count_tokens answer");
    assert_eq!(answer["method"], "anthropic native");
    assert_eq!(app.mock.path_calls("/v1/messages/count_tokens"), 1);
    app.stop().await;
}
