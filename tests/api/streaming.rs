//! Streaming chat: first event before 200, unbuffered relay, usage, [DONE].

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::{Reply, StreamScript};

fn stream_body(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

fn parse(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[actix_web::test]
async fn stream_is_relayed_with_prefixed_model_finish_reason_and_done() {
    let app = spawn_app().await;
    let (status, content_type, events) = app.chat_stream(&stream_body("mock/m")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&events);
    // role, three words, finish; the usage chunk the proxy asked for is not
    // shown to a client that did not ask for it.
    assert_eq!(chunks.len(), 5, "{events:?}");
    assert!(chunks.iter().all(|c| c["model"] == "mock/m"), "{events:?}");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "hello from mock");
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    let sent = app.mock.last_body("/v1/chat/completions").unwrap();
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "usage injected upstream"
    );
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);

    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["successes"], 1);
    assert_eq!(usage["daily"]["prompt_tokens"], 10);
    assert_eq!(usage["daily"]["completion_tokens"], 3);
    app.stop().await;
}

#[actix_web::test]
async fn usage_chunk_is_kept_when_the_client_asks_for_it() {
    let app = spawn_app().await;
    let mut body = stream_body("mock/m");
    body["stream_options"] = json!({"include_usage": true});
    let (status, _, events) = app.chat_stream(&body).await;
    assert_eq!(status, StatusCode::OK);
    let chunks = parse(&events);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert_eq!(last["model"], "mock/m");
    app.stop().await;
}

#[actix_web::test]
async fn events_are_relayed_as_they_arrive() {
    let app = spawn_app().await;
    let script =
        StreamScript::chat("m", &["one", "two"], false).with_gap(Duration::from_millis(200));
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(script)]);
    let mut res = app.open_stream(&stream_body("mock/m")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let first = res.next().await.unwrap().unwrap();
    assert!(
        std::str::from_utf8(&first).unwrap().starts_with("data: {"),
        "{first:?}"
    );
    assert_eq!(
        app.mock.events_sent(),
        1,
        "the client saw the first event before the upstream sent the second"
    );
    let mut rest = Vec::new();
    while let Some(chunk) = res.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8(rest)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
    app.stop().await;
}

#[actix_web::test]
async fn failure_before_the_first_event_retries_then_rotates() {
    let empty_stream = Reply::ok().with_stream(StreamScript::raw(vec![]).cut_after(0));
    for failure in [Reply::status(500), empty_stream] {
        let app = spawn_app().await;
        app.mock.script(KEY_1, "m", vec![failure]);
        let (status, _, events) = app.chat_stream(&stream_body("mock/m")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(parse(&events).len(), 5, "key 2's whole stream: {events:?}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        assert_eq!(
            app.mock.calls(KEY_1, "m"),
            3,
            "the first try and two retries"
        );
        assert_eq!(app.mock.calls(KEY_2, "m"), 1);
        app.stop().await;
    }
}

#[actix_web::test]
async fn failure_after_output_began_ends_with_an_error_event_and_is_not_retried() {
    let app = spawn_app().await;
    let cut = StreamScript::chat("m", &["partial", "output"], false).cut_after(2);
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(cut)]);
    let (status, _, events) = app.chat_stream(&stream_body("mock/m")).await;
    assert_eq!(status, StatusCode::OK);
    let n = events.len();
    assert_eq!(events[n - 1], "[DONE]");
    let error: Value = serde_json::from_str(&events[n - 2]).unwrap();
    assert_eq!(error["error"]["code"], "stream_interrupted", "{events:?}");
    assert_eq!(
        parse(&events).len(),
        3,
        "role + one word + the error: {events:?}"
    );
    assert_eq!(app.mock.total_calls(), 1, "no retry after output began");
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["failures"], 1);
    app.stop().await;
}

#[actix_web::test]
async fn upstream_client_error_on_a_stream_is_passed_through() {
    let app = spawn_app().await;
    app.mock.script(KEY_1, "m", vec![Reply::status(400)]);
    let (status, _, _) = app.chat_stream(&stream_body("mock/m")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.mock.total_calls(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn a_silent_upstream_gets_keepalive_comments_to_the_client() {
    let app = spawn_app().await;
    let slow = StreamScript::chat("m", &["one"], false).with_gap(Duration::from_millis(1300));
    app.mock
        .script(KEY_1, "m", vec![Reply::ok().with_stream(slow)]);
    let mut res = app.open_stream(&stream_body("mock/m")).await;
    let mut raw = String::new();
    while let Some(chunk) = res.next().await {
        raw.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(raw.contains(": keep-alive\n\n"), "{raw}");
    let data = crate::helpers::sse_data(&raw);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(parse(&data).len(), 3, "comments are not events: {data:?}");
    app.stop().await;
}

#[actix_web::test]
async fn a_finished_stream_leaves_its_upstream_connection_for_the_next_call() {
    let app = spawn_app().await;
    for _ in 0..4 {
        let (status, _, events) = app.chat_stream(&stream_body("mock/m")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    }
    // The calls come one after another: one connection per proxy worker at
    // most (2), not one per stream.
    assert!(
        app.mock.connections() <= 2,
        "{} upstream connections for 4 streams",
        app.mock.connections()
    );
    app.stop().await;
}
