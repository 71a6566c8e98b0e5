//! Routes across the client APIs: streams (fallover only before the first
//! byte), Anthropic messages, Responses, embeddings, and the request logs.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::routes::{post, rests, spawn_routes, BACKUP_KEY};
use mock_upstream::{Reply, StreamScript};

#[actix_web::test]
async fn a_stream_falls_over_before_its_first_byte_but_not_after() {
    let app = spawn_routes(&[]).await;
    app.mock.script(KEY_1, "m", vec![rests()]);
    app.mock.script(KEY_2, "m", vec![Reply::status(503)]);
    let body = json!({"model": "fast", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, events) = app.chat_stream(&body).await;
    assert_eq!(status, StatusCode::OK);
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["model"], "backup/b");
    assert_eq!(events.last().unwrap(), "[DONE]");

    // Cut after the first event: the client has output, so no fallover.
    let cut = StreamScript {
        cut_after: Some(2),
        ..StreamScript::chat("m", &["one", "two", "three"], false)
    };
    let app = spawn_routes(&[]).await;
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(cut.clone())]);
    app.mock
        .script(KEY_2, "m", vec![Reply::ok().with_stream(cut)]);
    let mut res = app.open_stream(&body).await;
    assert_eq!(
        res.headers().get("x-llm-key-proxy-target").unwrap(),
        "mock/m"
    );
    let mut text = String::new();
    while let Some(chunk) = res.next().await {
        match chunk {
            Ok(bytes) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Err(_) => break,
        }
    }
    assert!(text.contains("\"error\""), "{text}");
    assert_eq!(app.mock.calls_for_key(BACKUP_KEY), 0);
    assert_eq!(app.mock.calls(KEY_1, "m") + app.mock.calls(KEY_2, "m"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn the_same_route_serves_messages_responses_and_embeddings() {
    let app = spawn_routes(&[("ROUTE_EMBED", "mock/e,backup/e")]).await;
    app.mock.script(KEY_1, "m", vec![rests()]);
    app.mock.script(KEY_2, "m", vec![rests()]);
    let messages = json!({"model": "fast", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, target, body) = post(&app, "/v1/messages", &messages).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/b");
    assert_eq!(body["model"], "backup/b");
    assert_eq!(body["type"], "message");

    let responses = json!({"model": "fast", "input": "hi"});
    let (status, target, body) = post(&app, "/v1/responses", &responses).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/b");
    assert_eq!(body["model"], "backup/b");
    assert_eq!(body["object"], "response");

    app.mock.script(KEY_1, "e", vec![rests()]);
    app.mock.script(KEY_2, "e", vec![rests()]);
    let embeddings = json!({"model": "embed", "input": "hi"});
    let (status, target, body) = post(&app, "/v1/embeddings", &embeddings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(target, "backup/e");
    app.stop().await;
}

#[actix_web::test]
async fn request_logs_record_every_target_tried() {
    let (app, logs, _logs_tmp) = spawn_logging().await;
    let base = app.mock.base_url.clone();
    app.set_env("BACKUP_API_KEY", Some(BACKUP_KEY));
    app.set_env("BACKUP_API_BASE", Some(&base));
    app.set_env("ROUTE_FAST", Some("mock/m,backup/b"));
    assert_eq!(
        app.post_json("/v1/admin/reload", &json!({})).await.0,
        StatusCode::OK
    );
    app.mock.script(KEY_1, "m", vec![rests()]);
    app.mock.script(KEY_2, "m", vec![rests()]);
    let (status, _, body) = post(&app, "/v1/chat/completions", &chat_body("fast")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut metadata = None;
    for _ in 0..200 {
        let found = std::fs::read_dir(&logs).ok().and_then(|entries| {
            entries
                .map(|e| e.unwrap().path().join("metadata.json"))
                .find(|p| p.exists())
        });
        if let Some(path) = found {
            metadata = std::fs::read_to_string(path).ok();
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let metadata: Value = serde_json::from_str(&metadata.unwrap()).unwrap();
    assert_eq!(metadata["model_route"], "fast");
    assert_eq!(metadata["provider"], "backup");
    let targets = metadata["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{metadata}");
    assert_eq!(targets[0]["target"], "mock/m");
    let outcome = targets[0]["outcome"].as_str().unwrap();
    assert!(outcome.starts_with("failed: "), "{outcome}");
    assert_eq!(targets[1]["target"], "backup/b");
    assert_eq!(targets[1]["outcome"], "answered");
    assert_eq!(metadata["attempts"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn a_responses_route_mixes_native_and_translated_targets() {
    let app = spawn_routes(&[("MOCK_RESPONSES", "native")]).await;
    let request = json!({"model": "fast", "input": "hi"});
    // The native target answers as it sent it.
    let native = json!({"id": "resp_1", "object": "response", "status": "completed",
        "model": "m", "output": [], "usage": {"input_tokens": 1, "output_tokens": 1}});
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_body(native.clone())]);
    app.mock
        .script(KEY_2, "m", vec![Reply::ok().with_body(native)]);
    let (status, target, body) = post(&app, "/v1/responses", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (target.as_str(), &body["model"]),
        ("mock/m", &json!("mock/m"))
    );
    assert_eq!(body["id"], "resp_1");
    assert_eq!(app.mock.path_calls("/v1/responses"), 1);

    // Its keys rest: the translated target answers through chat.
    app.mock.script(KEY_1, "m", vec![rests()]);
    app.mock.script(KEY_2, "m", vec![rests()]);
    let (status, target, body) = post(&app, "/v1/responses", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (target.as_str(), &body["model"]),
        ("backup/b", &json!("backup/b"))
    );
    assert_eq!(body["object"], "response");
    assert_eq!(app.mock.calls(BACKUP_KEY, "b"), 1);
    app.stop().await;
}
