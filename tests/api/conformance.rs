//! One suite every wire format passes against the scripted upstream:
//! non-stream, stream, embeddings (where the provider has them), 429 with a
//! hint, 401, 500, a malformed stream event, and a stream cut mid-way; and
//! the same failures through the Responses API (`responses_*`): a 429 that
//! rotates, every key resting, a stream cut after output began.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::responses::{events as response_events, output_text, post};
use mock_upstream::{anthropic, gemini, Reply, StreamScript};

/// The events of a finished stream: payloads, `[DONE]` excluded.
fn payloads(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn stream_body() -> Value {
    json!({"model": "", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

macro_rules! conformance {
    ($format:ident, provider: $provider:expr, text: $text:expr, embeddings: $embeddings:expr, stream: $stream:expr) => {
        mod $format {
            use super::*;

            const PROVIDER: &str = $provider;
            const MODEL: &str = concat!($provider, "/m");

            /// This format's stream saying `words`, finishing after the last.
            fn stream_of(words: &[&str]) -> StreamScript {
                ($stream)(words)
            }

            async fn app() -> TestApp {
                spawn_with(Options {
                    provider: PROVIDER,
                    ..Options::default()
                })
                .await
            }

            fn streamed() -> Value {
                let mut body = stream_body();
                body["model"] = json!(MODEL);
                body
            }

            #[actix_web::test]
            async fn non_stream() {
                let app = app().await;
                let (status, answer) = app.chat(MODEL).await;
                assert_eq!(status, StatusCode::OK, "{answer}");
                assert_eq!(answer["model"].as_str().unwrap().split('/').next(), Some(PROVIDER));
                assert_eq!(answer["choices"][0]["message"]["content"], $text);
                assert_eq!(answer["choices"][0]["finish_reason"], "stop");
                assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
                app.stop().await;
            }

            #[actix_web::test]
            async fn stream() {
                let app = app().await;
                let (status, _, events) = app.chat_stream(&streamed()).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
                let chunks = payloads(&events);
                assert_eq!(text_of(&chunks), $text);
                assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{events:?}");
                app.stop().await;
            }

            #[actix_web::test]
            async fn embeddings() {
                let app = app().await;
                let body = json!({"model": MODEL, "input": ["a", "b"]});
                let (status, answer) = app.post_json("/v1/embeddings", &body).await;
                if $embeddings {
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
                } else {
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
                    assert_eq!(app.mock.total_calls(), 0);
                }
                app.stop().await;
            }

            #[actix_web::test]
            async fn rate_limit_with_hint() {
                let app = app().await;
                app.mock.script(KEY_1, "m", vec![Reply::status(429).with_header("Retry-After", "30")]);
                assert_eq!(app.chat(MODEL).await.0, StatusCode::OK);
                assert_eq!((app.mock.calls(KEY_1, "m"), app.mock.calls(KEY_2, "m")), (1, 1));
                let usage = app.usage_in(PROVIDER, KEY_1, "m").await;
                assert_eq!(usage["last_failure"], "rate_limited");
                assert!(usage["cooldown_until"].is_string(), "{usage}");
                app.stop().await;
            }

            #[actix_web::test]
            async fn unauthorized() {
                let app = app().await;
                app.mock.script(KEY_1, "m", vec![Reply::status(401)]);
                assert_eq!(app.chat(MODEL).await.0, StatusCode::OK);
                assert_eq!((app.mock.calls(KEY_1, "m"), app.mock.calls(KEY_2, "m")), (1, 1));
                let (_, usage) = app.get_json("/v1/usage").await;
                assert!(usage["providers"][PROVIDER]["keys"][0]["locked_until"].is_string(), "{usage}");
                app.stop().await;
            }

            #[actix_web::test]
            async fn server_error() {
                let app = app().await;
                app.mock.script(KEY_1, "m", vec![Reply::status(500)]);
                assert_eq!(app.chat(MODEL).await.0, StatusCode::OK);
                assert_eq!(app.mock.calls(KEY_1, "m"), 3, "a try and two retries");
                assert_eq!(app.mock.calls(KEY_2, "m"), 1);
                app.stop().await;
            }

            #[actix_web::test]
            async fn malformed_chunk() {
                let app = app().await;
                let broken = StreamScript::raw(vec!["{this is not json".into()]);
                app.mock.script(KEY_1, "m", vec![Reply::ok().with_stream(broken)]);
                let (status, _, events) = app.chat_stream(&streamed()).await;
                assert_eq!(status, StatusCode::OK);
                assert!(!events.iter().any(|e| e.contains("this is not json")), "{events:?}");
                assert_eq!(text_of(&payloads(&events)), $text, "key 2's stream");
                assert_eq!(app.mock.calls(KEY_1, "m"), 3);
                app.stop().await;
            }

            #[actix_web::test]
            async fn mid_stream_disconnect() {
                let app = app().await;
                let cut = stream_of(&["one", " two", " three", " four"]).cut_after(3);
                app.mock.script(KEY_1, "m", vec![Reply::ok().with_stream(cut)]);
                let (status, _, events) = app.chat_stream(&streamed()).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
                let chunks = payloads(&events);
                let last = chunks.last().unwrap();
                assert_eq!(last["error"]["code"], "stream_interrupted", "{events:?}");
                assert!(text_of(&chunks).starts_with("one"), "{events:?}");
                assert_eq!(app.mock.total_calls(), 1, "never retried after output began");
                app.stop().await;
            }

            #[actix_web::test]
            async fn responses_rate_limit_rotates() {
                let app = app().await;
                app.mock.script(KEY_1, "m", vec![Reply::status(429).with_header("Retry-After", "30")]);
                let answer = post(&app, &json!({"model": MODEL, "input": "hi"})).await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
                assert_eq!(output_text(&answer.json()), $text);
                assert_eq!((app.mock.calls(KEY_1, "m"), app.mock.calls(KEY_2, "m")), (1, 1));
                app.stop().await;
            }

            #[actix_web::test]
            async fn responses_every_key_resting() {
                let app = app().await;
                for key in [KEY_1, KEY_2] {
                    app.mock.script(key, "m", vec![Reply::status(429).with_header("Retry-After", "600")]);
                }
                let answer = post(&app, &json!({"model": MODEL, "input": "hi", "stream": true})).await;
                assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.text);
                assert!(answer.retry_after.is_some());
                assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
                assert_eq!(app.mock.total_calls(), 2);
                app.stop().await;
            }

            #[actix_web::test]
            async fn responses_mid_stream_disconnect() {
                let app = app().await;
                let cut = stream_of(&["one", " two", " three", " four"]).cut_after(3);
                app.mock.script(KEY_1, "m", vec![Reply::ok().with_stream(cut)]);
                let answer = post(&app, &json!({"model": MODEL, "input": "hi", "stream": true})).await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
                let events = response_events(&answer.text);
                let (name, last) = events.last().unwrap();
                assert_eq!(name, "response.failed", "{}", answer.text);
                assert_eq!(last["response"]["error"]["code"], "server_error");
                assert!(answer.text.contains("response.output_text.delta"));
                assert_eq!(app.mock.total_calls(), 1, "never retried after output began");
                app.stop().await;
            }
        }
    };
}

conformance!(openai_compatible, provider: "mock", text: "hello from mock", embeddings: true,
    stream: |words: &[&str]| StreamScript::chat("m", words, false));
conformance!(gemini_native, provider: "gemini", text: "hello from gemini", embeddings: true,
    stream: |words: &[&str]| gemini::stream(words));
conformance!(anthropic_native, provider: "anthropic", text: "hello from claude", embeddings: false,
    stream: |words: &[&str]| anthropic::stream("m", words));
