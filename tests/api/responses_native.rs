//! `POST /v1/responses` passed through to a provider that serves the
//! Responses API natively (the `openai` preset, or `<P>_RESPONSES=native`):
//! the request as sent with only `model` replaced, the answer and each
//! stream event as the provider sent them, `model` prefixed; keys rotated
//! and usage counted as for chat.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::responses::post;
use mock_upstream::{Reply, StreamScript};

/// A proxy whose keys belong to the `openai` preset, at the mock.
async fn openai_app() -> TestApp {
    spawn_with(Options {
        provider: "openai",
        ..Options::default()
    })
    .await
}

/// A Responses answer with an output item the chat translation has no
/// place for.
fn native_answer(model: &str) -> Value {
    json!({
        "id": "resp_native_1",
        "object": "response",
        "status": "completed",
        "model": model,
        "output": [
            {"type": "web_search_call", "id": "ws_1", "status": "completed",
             "action": {"type": "search", "query": "rust"}},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "found it", "annotations": []}]}
        ],
        "usage": {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    })
}

#[actix_web::test]
async fn a_native_answer_comes_back_as_sent_with_model_prefixed() {
    let app = openai_app().await;
    app.mock.script(
        KEY_1,
        "gpt-5",
        vec![Reply::ok().with_body(native_answer("gpt-5"))],
    );
    let body = json!({
        "model": "openai/gpt-5", "input": "search", "store": true,
        "tools": [{"type": "web_search"}], "include": ["reasoning.encrypted_content"]
    });
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.dropped_tools, None);
    assert_eq!(answer.json(), native_answer("openai/gpt-5"));

    // The request went to `/responses` as sent, with only `model` replaced.
    assert_eq!(app.mock.path_calls("/v1/responses"), 1);
    assert_eq!(app.mock.path_calls("/v1/chat/completions"), 0);
    let mut sent = body.clone();
    sent["model"] = "gpt-5".into();
    assert_eq!(app.mock.last_body("/v1/responses").unwrap(), sent);

    let usage = app.usage_in("openai", KEY_1, "gpt-5").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["prompt_tokens"], 12);
    assert_eq!(usage["daily"]["completion_tokens"], 4);
    app.stop().await;
}

/// Native stream events, `event:`/`data:` as OpenAI sends them.
fn native_events(model: &str) -> Vec<String> {
    let response = |status: &str, usage: Value| {
        json!({"id": "resp_s", "object": "response", "status": status, "model": model,
               "output": [], "usage": usage})
    };
    let events = [
        json!({"type": "response.created", "sequence_number": 0,
               "response": response("in_progress", Value::Null)}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
               "item": {"type": "web_search_call", "id": "ws_1", "status": "in_progress"}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "output_index": 1,
               "content_index": 0, "item_id": "msg_1", "delta": "hello"}),
        json!({"type": "response.completed", "sequence_number": 3,
               "response": response("completed",
                   json!({"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}))}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}", e["type"].as_str().unwrap()))
        .collect()
}

#[actix_web::test]
async fn a_native_stream_is_relayed_event_for_event() {
    let app = openai_app().await;
    let script = StreamScript::raw(native_events("gpt-5")).without_done();
    app.mock
        .script(KEY_1, "gpt-5", vec![Reply::ok().with_stream(script)]);
    let body = json!({"model": "openai/gpt-5", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.content_type.starts_with("text/event-stream"));
    let text = answer.text.replace(": keep-alive\n\n", "");
    let expected: String = native_events("openai/gpt-5")
        .iter()
        .map(|e| format!("{e}\n\n"))
        .collect();
    assert_eq!(text, expected);
    let sent = app.mock.last_body("/v1/responses").unwrap();
    assert_eq!(
        sent,
        json!({"model": "gpt-5", "input": "hi", "stream": true})
    );

    let usage = app.usage_in("openai", KEY_1, "gpt-5").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["prompt_tokens"], 9);
    assert_eq!(usage["daily"]["completion_tokens"], 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_native_stream_cut_ends_with_response_failed() {
    let app = openai_app().await;
    let script = StreamScript::raw(native_events("gpt-5")).cut_after(3);
    app.mock
        .script(KEY_1, "gpt-5", vec![Reply::ok().with_stream(script)]);
    let body = json!({"model": "openai/gpt-5", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let last = answer.text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        last.starts_with("event: response.failed\n"),
        "{}",
        answer.text
    );
    let data: Value = serde_json::from_str(last.split("data: ").nth(1).unwrap()).unwrap();
    assert_eq!(data["sequence_number"], 3);
    assert_eq!(data["response"]["id"], "resp_s");
    assert_eq!(data["response"]["status"], "failed");
    app.stop().await;
}

#[actix_web::test]
async fn a_provider_failure_after_output_is_relayed_as_sent() {
    let app = openai_app().await;
    let mut events = native_events("gpt-5");
    let failed = json!({"type": "response.failed", "sequence_number": 3,
        "response": {"id": "resp_s", "status": "failed", "model": "gpt-5",
                     "error": {"code": "server_error", "message": "boom"}}});
    events[3] = format!("event: response.failed\ndata: {failed}");
    let script = StreamScript::raw(events.clone()).without_done();
    app.mock
        .script(KEY_1, "gpt-5", vec![Reply::ok().with_stream(script)]);
    let body = json!({"model": "openai/gpt-5", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let text = answer.text.replace(": keep-alive\n\n", "");
    let expected: String = events
        .iter()
        .map(|e| {
            format!(
                "{}\n\n",
                e.replace("\"model\":\"gpt-5\"", "\"model\":\"openai/gpt-5\"")
            )
        })
        .collect();
    assert_eq!(text, expected);
    let usage = app.usage_in("openai", KEY_1, "gpt-5").await;
    assert_eq!(usage["daily"]["successes"], 0, "{usage}");
    app.stop().await;
}

#[actix_web::test]
async fn a_rate_limited_key_rotates_in_native_mode() {
    let app = openai_app().await;
    app.mock.script(
        KEY_1,
        "gpt-5",
        vec![Reply::status(429).with_header("Retry-After", "30")],
    );
    app.mock.script(
        KEY_2,
        "gpt-5",
        vec![Reply::ok().with_body(native_answer("gpt-5"))],
    );
    let answer = post(&app, &json!({"model": "openai/gpt-5", "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["model"], "openai/gpt-5");
    assert_eq!(app.mock.calls(KEY_1, "gpt-5"), 1);
    assert_eq!(app.mock.calls(KEY_2, "gpt-5"), 1);
    assert_eq!(
        app.usage_in("openai", KEY_1, "gpt-5").await["last_failure"],
        "rate_limited"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_rate_limited_first_event_rotates_in_native_mode() {
    let app = openai_app().await;
    let failed = json!({"type": "response.failed", "sequence_number": 0,
        "response": {"id": "resp_x", "status": "failed",
                     "error": {"code": "rate_limit_exceeded", "message": "Rate limit reached"}}});
    let script = StreamScript::raw(vec![format!("event: response.failed\ndata: {failed}")]);
    app.mock
        .script(KEY_1, "gpt-5", vec![Reply::ok().with_stream(script)]);
    let script = StreamScript::raw(native_events("gpt-5")).without_done();
    app.mock
        .script(KEY_2, "gpt-5", vec![Reply::ok().with_stream(script)]);
    let body = json!({"model": "openai/gpt-5", "input": "hi", "stream": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.text.contains("event: response.completed\n"));
    assert!(!answer.text.contains("rate_limit_exceeded"));
    assert_eq!(app.mock.calls(KEY_1, "gpt-5"), 1);
    assert_eq!(app.mock.calls(KEY_2, "gpt-5"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn previous_response_id_and_store_pass_through_in_native_mode() {
    let app = openai_app().await;
    app.mock.script(
        KEY_1,
        "gpt-5",
        vec![Reply::ok().with_body(native_answer("gpt-5"))],
    );
    let body = json!({"model": "openai/gpt-5", "input": "and then?",
                      "previous_response_id": "resp_earlier", "store": true});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let sent = app.mock.last_body("/v1/responses").unwrap();
    assert_eq!(sent["previous_response_id"], "resp_earlier");
    assert_eq!(sent["store"], true);
    app.stop().await;
}

#[actix_web::test]
async fn a_provider_refusal_keeps_its_status_and_envelope() {
    let app = openai_app().await;
    let refusal = json!({"error": {"message": "Previous response not found.",
        "type": "invalid_request_error", "param": "previous_response_id", "code": null}});
    app.mock.script(
        KEY_1,
        "gpt-5",
        vec![Reply::status(404).with_body(refusal.clone())],
    );
    let body = json!({"model": "openai/gpt-5", "input": "x", "previous_response_id": "resp_gone"});
    let answer = post(&app, &body).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.json(), refusal);
    app.stop().await;
}

#[actix_web::test]
async fn a_custom_provider_goes_native_only_when_marked() {
    let app = spawn_with(Options {
        extra_env: vec![("MOCK_RESPONSES".into(), "native".into())],
        ..Options::default()
    })
    .await;
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_body(native_answer("m"))]);
    let answer = post(&app, &json!({"model": "mock/m", "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["output"][0]["type"], "web_search_call");
    assert_eq!(answer.json()["model"], "mock/m");
    assert_eq!(app.mock.path_calls("/v1/responses"), 1);
    app.stop().await;

    // Unmarked, the same provider is served through chat.
    let app = spawn_app().await;
    let answer = post(&app, &json!({"model": "mock/m", "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["output"][0]["type"], "message");
    assert_eq!(app.mock.path_calls("/v1/responses"), 0);
    assert_eq!(app.mock.path_calls("/v1/chat/completions"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn a_native_request_is_logged_like_chat() {
    let logs_tmp = tempfile::tempdir().unwrap();
    let logs = logs_tmp.path().join("logs");
    let app = spawn_with(Options {
        provider: "openai",
        extra_env: vec![
            ("ENABLE_REQUEST_LOGGING".into(), "true".into()),
            ("REQUEST_LOG_DIR".into(), logs.display().to_string()),
        ],
        ..Options::default()
    })
    .await;
    app.mock.script(
        KEY_1,
        "gpt-5",
        vec![Reply::status(429).with_header("Retry-After", "30")],
    );
    app.mock.script(
        KEY_2,
        "gpt-5",
        vec![Reply::ok().with_body(native_answer("gpt-5"))],
    );
    let answer = post(&app, &json!({"model": "openai/gpt-5", "input": "hi"})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let metadata = |dir: &std::path::Path| dir.join("metadata.json");
    let mut dir = None;
    for _ in 0..200 {
        dir = std::fs::read_dir(&logs).ok().and_then(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .find(|p| p.is_dir() && metadata(p).exists())
        });
        if dir.is_some() {
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = dir.expect("a request log directory");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let meta = read("metadata.json");
    assert_eq!(meta["status"], 200);
    assert_eq!(meta["provider"], "openai");
    assert_eq!(meta["model"], "gpt-5");
    let classes: Vec<&str> = meta["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["rate_limited", "success"]);
    assert_eq!(meta["prompt_tokens"], 12);
    assert_eq!(
        read("response.json")["output"][0]["type"],
        "web_search_call"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_bad_input_is_refused_before_any_native_call() {
    let app = openai_app().await;
    for (body, says) in [
        (json!({"model": "openai/gpt-5"}), "`input` is required"),
        (
            json!({"model": "openai/gpt-5", "input": 5}),
            "must be a string or an array",
        ),
        (
            json!({"model": "openai/gpt-5", "input": []}),
            "`input` is empty",
        ),
    ] {
        let answer = post(&app, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        let error = answer.json()["error"].clone();
        assert_eq!(error["param"], "input", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(app.mock.total_calls(), 0);
    app.stop().await;
}
