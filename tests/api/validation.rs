//! Malformed requests are refused before any provider is called: the
//! shape of `messages`, model ids (per wire format), reset filters.

use actix_web::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

/// A 400 in the OpenAI envelope; its message.
fn refused(status: StatusCode, answer: &Value) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
    answer["error"]["message"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn chat_messages_must_be_a_non_empty_array_of_objects_with_a_role() {
    let app = spawn_app().await;
    let cases = [
        (json!({"model": "mock/m"}), "`messages` is required"),
        (
            json!({"model": "mock/m", "messages": "hi"}),
            "must be an array",
        ),
        (
            json!({"model": "mock/m", "messages": []}),
            "`messages` is empty",
        ),
        (
            json!({"model": "mock/m", "messages": ["hi"]}),
            "`messages[0]` must be an object",
        ),
        (
            json!({"model": "mock/m", "messages": [{"role": "user", "content": "a"}, {"content": "b"}]}),
            "`messages[1]` has no `role`",
        ),
        (
            json!({"model": "mock/m", "messages": [{"role": 7, "content": "a"}]}),
            "`messages[0].role` must be a string",
        ),
    ];
    for (body, expected) in cases {
        // Both the plain fast path and the general (streaming) path.
        for stream in [false, true] {
            let mut body = body.clone();
            body["stream"] = json!(stream);
            let (status, answer) = app.post_json("/v1/chat/completions", &body).await;
            let message = refused(status, &answer);
            assert!(message.contains(expected), "{body}: {message}");
            assert_eq!(answer["error"]["param"], "messages");
        }
    }
    assert_eq!(app.mock.total_calls(), 0, "nothing reached the upstream");
    // A well-shaped request still goes through the plain path untouched.
    assert_eq!(app.chat("mock/m").await.0, StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn completion_prompts_and_embedding_inputs_must_be_text() {
    let app = spawn_app().await;
    let cases = [
        (
            "/v1/completions",
            "prompt",
            json!(null),
            "`prompt` is required",
        ),
        (
            "/v1/completions",
            "prompt",
            json!({"text": "hi"}),
            "not an object",
        ),
        ("/v1/completions", "prompt", json!([]), "`prompt` is empty"),
        (
            "/v1/embeddings",
            "input",
            json!(null),
            "`input` is required",
        ),
        (
            "/v1/embeddings",
            "input",
            json!([{}]),
            "`input[0]` is an object",
        ),
        ("/v1/embeddings", "input", json!(["a", 1]), "mixes strings"),
    ];
    for (path, field, value, expected) in cases {
        let mut body = json!({"model": "mock/m"});
        if !value.is_null() {
            body[field] = value;
        }
        let (status, answer) = app.post_json(path, &body).await;
        let message = refused(status, &answer);
        assert!(message.contains(expected), "{path} {body}: {message}");
        assert_eq!(answer["error"]["param"], field, "{answer}");
    }
    assert_eq!(app.mock.total_calls(), 0, "nothing reached the upstream");
    // Text in every shape OpenAI accepts still goes through.
    for (path, field, value) in [
        ("/v1/completions", "prompt", json!("Say hi")),
        ("/v1/completions", "prompt", json!([[1, 2], [3]])),
        ("/v1/embeddings", "input", json!(["a", "b"])),
        ("/v1/embeddings", "input", json!([1, 2, 3])),
    ] {
        let body = json!({"model": "mock/m", field: value});
        let (status, answer) = app.post_json(path, &body).await;
        assert_eq!(status, StatusCode::OK, "{path} {body}: {answer}");
    }
    assert_eq!(app.mock.total_calls(), 4);
    app.stop().await;
}

#[actix_web::test]
async fn model_ids_with_whitespace_control_characters_or_too_long_are_refused() {
    let app = spawn_app().await;
    let long = format!("mock/{}", "m".repeat(300));
    let cases = [
        ("mock/a b", "a space at character 7"),
        ("mock/m\n", "a line break (U+000A)"),
        ("mock/m\u{0}", "U+0000"),
        (" mock/m", "a space at character 1"),
        (long.as_str(), "305 characters long; the limit is 256"),
    ];
    for (model, expected) in cases {
        for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/token-count"] {
            let body = json!({"model": model, "input": "x", "messages": [{"role": "user", "content": "x"}]});
            let (status, answer) = app.post_json(path, &body).await;
            let message = refused(status, &answer);
            assert!(message.contains(expected), "{path} {model:?}: {message}");
            assert!(!message.contains(&"m".repeat(300)), "not echoed whole");
        }
    }
    assert_eq!(app.mock.total_calls(), 0, "nothing reached the upstream");
    app.stop().await;
}

#[actix_web::test]
async fn openai_compatible_ids_with_slashes_and_colons_still_work() {
    let app = spawn_app().await;
    for model in [
        "meta-llama/Llama-3-8b",
        "accounts/fireworks/models/x",
        "llama3:8b",
    ] {
        let (status, answer) = app.chat(&format!("mock/{model}")).await;
        assert_eq!(status, StatusCode::OK, "{model}: {answer}");
        assert_eq!(answer["model"], format!("mock/{model}"));
        assert_eq!(
            app.mock.calls(KEY_1, model) + app.mock.calls(KEY_2, model),
            1
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn gemini_model_ids_never_reach_the_url_unsafely() {
    let app = spawn_with(Options {
        provider: "gemini",
        ..Options::default()
    })
    .await;
    let cases = [
        ("gemini/../../v1/files?", "`/`"),
        ("gemini/models/..", "`..`"),
        ("gemini/gemini-2.5-flash:streamGenerateContent", "`:`"),
        ("gemini/x?alt=json", "`?`"),
        ("gemini/x%2F..", "`%`"),
        ("gemini/a b", "a space"),
        ("gemini/models/", "empty"),
    ];
    for (model, expected) in cases {
        for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/token-count"] {
            let body = json!({"model": model, "input": "x", "messages": [{"role": "user", "content": "x"}]});
            let (status, answer) = app.post_json(path, &body).await;
            let message = refused(status, &answer);
            assert!(message.contains(expected), "{path} {model}: {message}");
        }
        let mut body = chat_body(model);
        body["stream"] = json!(true);
        let (status, _, _) = app.chat_stream(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{model}");
    }
    assert_eq!(app.mock.total_calls(), 0, "no upstream call, no key cooled");
    let (status, answer) = app.chat("gemini/models/gemini-2.5-flash").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        app.mock
            .path_calls("/v1beta/models/gemini-2.5-flash:generateContent"),
        1
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_misspelt_reset_filter_resets_nothing() {
    let app = spawn_app().await;
    for key in [KEY_1, KEY_2] {
        app.mock.script(
            key,
            "m",
            vec![Reply::status(429).with_header("Retry-After", "3600")],
        );
    }
    assert_eq!(app.chat("mock/m").await.0, StatusCode::TOO_MANY_REQUESTS);
    let body = Bytes::from(json!({"provder": "mock"}).to_string());
    let (status, answer) = app.post_raw("/v1/usage/reset", body, Some(PROXY_KEY)).await;
    let message = refused(status, &answer);
    assert!(
        message.contains("unknown field `provder`") && message.contains("`provider`"),
        "{message}"
    );
    for key in [KEY_1, KEY_2] {
        let usage = app.usage_of(key, "m").await;
        assert!(!usage["cooldown_until"].is_null(), "still resting: {usage}");
    }
    app.stop().await;
}
