//! The native Gemini format end to end: OpenAI in, `generateContent` out.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{gemini, Reply};

async fn gemini_app() -> TestApp {
    spawn_with(Options {
        provider: "gemini",
        ..Options::default()
    })
    .await
}

#[actix_web::test]
async fn chat_goes_to_generate_content_and_comes_back_in_openai_shape() {
    let app = gemini_app().await;
    let body = json!({
        "model": "gemini/gemini-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"}
        ],
        "max_tokens": 50,
        "stop": ["END"]
    });
    let (status, answer) = app.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "gemini/gemini-test");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "hello from gemini"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["prompt_tokens"], 10);

    let path = "/v1beta/models/gemini-test:generateContent";
    assert_eq!(app.mock.path_calls(path), 1);
    assert_eq!(
        app.mock.last_header(path, "x-goog-api-key").as_deref(),
        Some(KEY_1)
    );
    assert_eq!(
        app.mock.last_header(path, "authorization"),
        None,
        "the key goes in x-goog-api-key only"
    );
    let sent = app.mock.last_body(path).unwrap();
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(sent["contents"][0]["role"], "user");
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(sent["generationConfig"]["stopSequences"], json!(["END"]));

    let usage = app.usage_in("gemini", KEY_1, "gemini-test").await;
    assert_eq!(usage["daily"]["completion_tokens"], 5);
    app.stop().await;
}

#[actix_web::test]
async fn streams_are_translated_into_openai_chunks() {
    let app = gemini_app().await;
    let body = json!({"model": "gemini/gemini-test", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, content_type, events) = app.chat_stream(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/event-stream"));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "hello from gemini");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gemini/gemini-test"));
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
    assert_eq!(
        app.mock
            .path_calls("/v1beta/models/gemini-test:streamGenerateContent"),
        1
    );
    let usage = app.usage_in("gemini", KEY_1, "gemini-test").await;
    assert_eq!(usage["daily"]["successes"], 1);
    assert_eq!(usage["daily"]["completion_tokens"], 3);
    app.stop().await;
}

#[actix_web::test]
async fn resource_exhausted_with_retry_info_rotates_and_rests_the_key() {
    let app = gemini_app().await;
    let mut exhausted = gemini::error(429, "RESOURCE_EXHAUSTED");
    exhausted["error"]["details"] = json!([
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
    ]);
    app.mock.script(
        KEY_1,
        "gemini-test",
        vec![Reply::status(429).with_body(exhausted)],
    );
    let (status, answer) = app.chat("gemini/gemini-test").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.mock.calls(KEY_1, "gemini-test"), 1);
    assert_eq!(app.mock.calls(KEY_2, "gemini-test"), 1);
    let usage = app.usage_in("gemini", KEY_1, "gemini-test").await;
    let until =
        chrono::DateTime::parse_from_rfc3339(usage["cooldown_until"].as_str().unwrap()).unwrap();
    let rest = until.to_utc() - chrono::Utc::now();
    assert!(
        (33..=39).contains(&rest.num_seconds()),
        "the RetryInfo hint decides: {usage}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn embeddings_and_models_use_the_native_endpoints() {
    let app = gemini_app().await;
    let (status, answer) = app
        .post_json(
            "/v1/embeddings",
            &json!({"model": "gemini/text-embedding-004", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(answer["data"][1]["embedding"], json!([0.1, 0.2, 0.3]));
    assert_eq!(
        app.mock
            .path_calls("/v1beta/models/text-embedding-004:batchEmbedContents"),
        1
    );

    let (status, list) = app.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], "gemini/mock-model-a");
    assert!(app
        .mock
        .last_header("/v1beta/models", "x-goog-api-key")
        .is_some());
    app.stop().await;
}

#[actix_web::test]
async fn token_counts_use_gemini_count_tokens_with_a_pool_key() {
    let app = gemini_app().await;
    let body = json!({"model": "gemini/gemini-test", "messages": [{"role": "user", "content": "hello world"}]});
    let (status, answer) = app.post_json("/v1/token-count", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_count"], 7, "the mock's countTokens answer");
    assert_eq!(answer["method"], "gemini native");
    let path = "/v1beta/models/gemini-test:countTokens";
    assert_eq!(app.mock.path_calls(path), 1);
    assert!(app.mock.last_body(path).unwrap()["generateContentRequest"]["contents"].is_array());

    // When the provider's counter fails, the count is local.
    app.mock
        .script(KEY_1, "gemini-test", vec![Reply::status(500)]);
    app.mock
        .script(KEY_2, "gemini-test", vec![Reply::status(500)]);
    let (status, answer) = app.post_json("/v1/token-count", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_count"], 9);
    assert_eq!(answer["method"], "tiktoken cl100k_base");
    app.stop().await;
}

#[actix_web::test]
async fn an_invalid_or_forbidden_key_is_locked_and_rotated_not_returned() {
    let invalid: Value = serde_json::from_str(include_str!(
        "../fixtures/gemini/error_invalid_argument.json"
    ))
    .unwrap();
    for (code, body) in [
        (400, invalid),
        (403, gemini::error(403, "PERMISSION_DENIED")),
    ] {
        let app = gemini_app().await;
        app.mock.script(
            KEY_1,
            "gemini-test",
            vec![Reply::status(code).with_body(body)],
        );
        let (status, answer) = app.chat("gemini/gemini-test").await;
        assert_eq!(status, StatusCode::OK, "{code}: {answer}");
        assert_eq!(app.mock.calls(KEY_2, "gemini-test"), 1);
        let (_, usage) = app.get_json("/v1/usage").await;
        assert!(
            usage["providers"]["gemini"]["keys"][0]["locked_until"].is_string(),
            "{code}: {usage}"
        );
        app.stop().await;
    }
}

#[actix_web::test]
async fn a_refusal_reaches_openai_clients_in_the_openai_envelope() {
    let app = gemini_app().await;
    let refusal = json!([{"error": {"code": 400, "message": "Invalid JSON payload: unknown field", "status": "INVALID_ARGUMENT"}}]);
    app.mock.script(
        KEY_1,
        "gemini-test",
        vec![Reply::status(400).with_body(refusal)],
    );
    let (status, answer) = app.chat("gemini/gemini-test").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"]["message"], "Invalid JSON payload: unknown field",
        "{answer}"
    );
    assert_eq!(answer["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(app.mock.total_calls(), 1, "one attempt, no rotation");
    app.stop().await;
}

#[actix_web::test]
async fn the_models_prefix_cannot_slip_past_the_filter() {
    let app = spawn_with(Options {
        provider: "gemini",
        extra_env: vec![("IGNORE_MODELS_GEMINI".into(), "gemini-pro*".into())],
        ..Options::default()
    })
    .await;
    for model in ["gemini/gemini-pro-x", "gemini/models/gemini-pro-x"] {
        assert_eq!(app.chat(model).await.0, StatusCode::BAD_REQUEST, "{model}");
        let body = json!({"model": model, "text": "hi"});
        assert_eq!(
            app.post_json("/v1/token-count", &body).await.0,
            StatusCode::BAD_REQUEST,
            "{model}"
        );
    }
    assert_eq!(
        app.chat("gemini/models/gemini-flash").await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.mock
            .path_calls("/v1beta/models/gemini-flash:generateContent"),
        1
    );
    assert_eq!(app.mock.total_calls(), 1);
    app.stop().await;
}
