//! `POST /v1/token-count`.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn text_and_messages_are_counted_with_the_model_family_encoding() {
    let app = spawn_app().await;
    let (status, answer) = app
        .post_json(
            "/v1/token-count",
            &json!({"model": "openai/gpt-4o", "text": "hello world"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_count"], 2);
    assert_eq!(answer["method"], "tiktoken o200k_base");

    let messages = json!([{"role": "user", "content": "hello world"}]);
    let (status, answer) = app
        .post_json(
            "/v1/token-count",
            &json!({"model": "groq/llama-3.1-8b", "messages": messages}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_count"], 9);
    assert_eq!(answer["method"], "tiktoken cl100k_base");
    assert_eq!(app.mock.total_calls(), 0, "counted locally");
    app.stop().await;
}

#[actix_web::test]
async fn bad_token_count_requests_are_400() {
    let app = spawn_app().await;
    for (body, expected) in [
        (json!({"text": "hi"}), "`model` is required"),
        (json!({"model": "openai/gpt-4o"}), "`messages`"),
        (json!({"model": "openai/gpt-4o", "text": 5}), "`text`"),
    ] {
        let (status, answer) = app.post_json("/v1/token-count", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    app.stop().await;
}
