//! What `POST /v1/messages` accepts and refuses: fields of the wrong type,
//! models without a provider prefix, and the request Claude Code 2.1 sends.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::messages::{post, request};

#[actix_web::test]
async fn fields_of_the_wrong_type_are_400s_before_any_provider_call() {
    let app = spawn_app().await;
    let mut streamed = request("mock/m");
    streamed["stream"] = json!("yes");
    let mut numbered = request("mock/m");
    numbered["model"] = json!(42);
    for (body, expected) in [
        (streamed, "`stream` must be true or false"),
        (numbered, "`model` must be a string"),
    ] {
        for path in ["/v1/messages", "/v1/messages/count_tokens"] {
            let (status, _, text) = post(&app, path, &body, PROXY_KEY).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
            let error: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(error["type"], "error");
            assert_eq!(error["error"]["type"], "invalid_request_error");
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "{path}: {message}");
        }
    }
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn a_bare_claude_model_is_a_400_saying_how_to_configure_claude_code() {
    let app = spawn_app().await;
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let (status, _, text) = post(&app, path, &request("claude-opus-4-1"), PROXY_KEY).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let message = error["error"]["message"].as_str().unwrap();
        for part in [
            "\"claude-opus-4-1\" has no provider prefix",
            "\"<provider>/<model>\"",
            "e.g. \"anthropic/claude-opus-4-1\"",
            "configured providers: mock",
            "ANTHROPIC_MODEL",
            "ANTHROPIC_DEFAULT_HAIKU_MODEL",
            "ANTHROPIC_SMALL_FAST_MODEL",
        ] {
            assert!(message.contains(part), "{path}: {part} not in {message}");
        }
    }
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}

fn claude_code_request() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/anthropic/in_claude_code_request.json"
    ))
    .unwrap()
}

/// Providers with one system instruction get Claude Code's system entry
/// folded into it, after the top-level system text.
#[actix_web::test]
async fn system_entries_fold_into_the_system_instruction_of_native_providers() {
    for (provider, path, pointer) in [
        ("anthropic", "/v1/messages", "/system"),
        (
            "gemini",
            "/v1beta/models/main:streamGenerateContent",
            "/systemInstruction/parts/0/text",
        ),
    ] {
        let app = spawn_with(Options {
            provider,
            ..Options::default()
        })
        .await;
        let mut body = claude_code_request();
        body["model"] = json!(format!("{provider}/main"));
        let (status, _, text) = post(&app, "/v1/messages", &body, PROXY_KEY).await;
        assert_eq!(status, StatusCode::OK, "{provider}: {text}");
        let sent = app.mock.last_body(path).unwrap();
        let system = sent.pointer(pointer).and_then(Value::as_str).unwrap();
        let top = system.find("You are a Claude agent").unwrap();
        let entry = system.find("# Environment").unwrap();
        assert!(top < entry, "{provider}: {system}");
        app.stop().await;
    }
}

/// The request Claude Code 2.1 sends (recorded, texts trimmed), on its
/// `?beta=true` path with its beta headers: accepted, and its system entry
/// inside `messages` reaches the provider in its place.
#[actix_web::test]
async fn a_recorded_claude_code_request_is_accepted() {
    let app = spawn_app().await;
    let recorded = claude_code_request();
    let mut res = app
        .client
        .post(app.url("/v1/messages?beta=true"))
        .bearer_auth(PROXY_KEY)
        .insert_header(("anthropic-version", "2023-06-01"))
        .insert_header((
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
        ))
        .insert_header(("x-app", "cli"))
        .send_json(&recorded)
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = res.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert_eq!(res.status(), StatusCode::OK, "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "tool"]);
    assert_eq!(sent["messages"][4]["content"], "MARKER-ABC123");
    for dropped in [
        "thinking",
        "context_management",
        "output_config",
        "metadata",
    ] {
        assert!(
            sent.get(dropped).is_none(),
            "{dropped} reached the provider"
        );
    }
    app.stop().await;
}
