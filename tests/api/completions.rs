//! `POST /v1/completions`: legacy text completions for OpenAI-compatible
//! providers, rotated, streamed and counted like chat; refused with 400 for
//! native formats.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::*;
use mock_upstream::Reply;

fn completion(model: &str) -> Value {
    json!({"model": model, "prompt": "def fib(n):", "max_tokens": 16, "suffix": "\n"})
}

#[actix_web::test]
async fn completions_are_forwarded_rotated_and_counted() {
    let app = spawn_app().await;
    app.mock.script(
        KEY_1,
        "m",
        vec![Reply::status(429).with_header("Retry-After", "30")],
    );
    let (status, answer) = app
        .post_json("/v1/completions", &completion("mock/m"))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["model"], "mock/m", "the prefix is kept");
    assert_eq!(answer["choices"][0]["text"], "hello from mock");
    let sent = app.mock.last_body("/v1/completions").unwrap();
    assert_eq!(
        sent,
        json!({"model": "m", "prompt": "def fib(n):", "max_tokens": 16, "suffix": "\n"}),
        "only `model` changes"
    );
    assert_eq!(app.mock.calls(KEY_1, "m"), 1);
    assert_eq!(app.mock.calls(KEY_2, "m"), 1, "rotated after the 429");
    let usage = app.usage_of(KEY_2, "m").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["prompt_tokens"], 3);
    assert_eq!(usage["daily"]["completion_tokens"], 4);
    assert_eq!(
        app.usage_of(KEY_1, "m").await["last_failure"],
        "rate_limited"
    );

    // The parsed path (an escaped member name) gives the same answer.
    let escaped = r#"{"model":"mock/m","pro\u006dpt":"x"}"#;
    let (status, answer) = app
        .post_raw("/v1/completions", escaped.into(), Some(PROXY_KEY))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model"], "mock/m");
    assert_eq!(
        app.mock.last_body("/v1/completions").unwrap()["prompt"],
        "x"
    );

    let mut res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let metrics = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(
        metrics.contains(r#"llm_proxy_request_duration_seconds_count{route="/v1/completions"} 2"#),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn streamed_completions_are_relayed_and_end_with_done() {
    let app = spawn_app().await;
    let mut body = completion("mock/m");
    body["stream"] = json!(true);
    let mut res = app
        .client
        .post(app.url("/v1/completions"))
        .bearer_auth(PROXY_KEY)
        .send_json(&body)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    while let Some(chunk) = res.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let words: String = chunks
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(words, "hello from mock");
    assert!(chunks.iter().all(|c| c["model"] == "mock/m"), "{text}");
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "the usage chunk the proxy asked for is not relayed: {text}"
    );
    let sent = app.mock.last_body("/v1/completions").unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let usage = app.usage_of(KEY_1, "m").await;
    assert_eq!(usage["daily"]["successes"], 1, "{usage}");
    assert_eq!(usage["daily"]["completion_tokens"], 3);
    app.stop().await;
}

#[actix_web::test]
async fn native_formats_refuse_legacy_completions_with_400() {
    for provider in ["gemini", "anthropic"] {
        let app = spawn_with(Options {
            provider,
            ..Options::default()
        })
        .await;
        let (status, answer) = app
            .post_json("/v1/completions", &completion(&format!("{provider}/m")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{provider}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("OpenAI-compatible") && message.contains("/v1/chat/completions"),
            "{message}"
        );
        assert_eq!(
            app.mock.total_calls(),
            0,
            "{provider}: nothing went upstream"
        );
        app.stop().await;
    }
}
