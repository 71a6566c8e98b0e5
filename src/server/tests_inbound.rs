//! The seam for client-facing APIs, tested with a made-up one: `Shout`, an
//! OpenAI chat that answers in capitals, registered with one line and
//! served end to end — key rotation, its own error envelope, its own key
//! header and its own stream frames.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use mock_upstream::{MockUpstream, Reply, StreamScript};
use serde_json::{json, Map, Value};

use super::routes::{client_api, client_apis};
use super::{start_serving, RunningApp};
use crate::cli::Cli;
use crate::config::{load_settings, Config, EnvMap};
use crate::error::ApiError;
use crate::inbound::{ChatOptions, InboundApi, OpenAiChat, Served, StreamFrames};

const PROXY_KEY: &str = "shout-proxy-key-0123456789";
const KEY_1: &str = "key-number-one-0001";
const KEY_2: &str = "key-number-two-0002";

/// OpenAI chat, answered in capitals; the key comes in `x-shout-key`. Its
/// context, the number of messages asked with, shows in the JSON answer.
struct Shout;

impl InboundApi for Shout {
    const KEY_HEADERS: &'static [&'static str] = &["x-shout-key"];

    type Context = usize;

    fn parse(
        body: Map<String, Value>,
        served: &dyn Served,
    ) -> Result<(Map<String, Value>, usize), ApiError> {
        let messages = body["messages"].as_array().map_or(0, Vec::len);
        let (body, ()) = OpenAiChat::parse(body, served)?;
        Ok((body, messages))
    }

    fn options(body: &Map<String, Value>) -> Result<ChatOptions, ApiError> {
        OpenAiChat::options(body)
    }

    fn json(status: StatusCode, body: Vec<u8>, messages: usize) -> Result<HttpResponse, ApiError> {
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
        Ok(HttpResponse::build(status)
            .json(json!({ "shouted": text.to_uppercase(), "messages": messages })))
    }

    fn stream(provider: &str, model: &str, _: usize) -> Box<dyn StreamFrames> {
        Box::new(Frames(format!("{provider}/{model}").to_uppercase()))
    }

    fn error(error: &ApiError) -> HttpResponse {
        let status = error.status_code();
        HttpResponse::build(status).json(json!({ "shout": error.to_string().to_uppercase() }))
    }

    fn refusal(status: StatusCode, _content_type: HeaderValue, body: Bytes) -> HttpResponse {
        let text = String::from_utf8_lossy(&body).to_uppercase();
        HttpResponse::build(status).json(json!({ "shout": text }))
    }
}

struct Frames(String);

impl StreamFrames for Frames {
    fn chunk(&mut self, data: &str) -> Bytes {
        let chunk: Value = serde_json::from_str(data).unwrap();
        match chunk["choices"][0]["delta"]["content"].as_str() {
            Some(text) if !text.is_empty() => {
                Bytes::from(format!("{}: {}\n", self.0, text.to_uppercase()))
            }
            _ => Bytes::new(),
        }
    }

    fn error(&mut self, data: &str) -> Bytes {
        Bytes::from(format!("ERROR: {data}\n"))
    }

    fn end(&mut self) -> Bytes {
        Bytes::from_static(b"END\n")
    }
}

/// The real app with `Shout` at `/v1/shout` beside the usual APIs.
async fn spawn(mock: &MockUpstream, data_dir: &Path) -> RunningApp {
    let env: EnvMap = [
        ("PROXY_API_KEY", PROXY_KEY),
        ("MOCK_API_BASE", mock.base_url.as_str()),
        ("MOCK_API_KEY_1", KEY_1),
        ("MOCK_API_KEY_2", KEY_2),
        ("PROXY_WORKERS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cli = Cli {
        host: Some("127.0.0.1".into()),
        port: Some(0),
        data_dir: Some(data_dir.to_path_buf()),
        ..Cli::default()
    };
    let settings = load_settings(Path::new("/nonexistent/default.toml"), &cli, &env).unwrap();
    let config = Config::from_settings(settings, &env).unwrap();
    // The one line that adds an API.
    let apis = |v1: actix_web::Scope| client_apis(v1).service(client_api::<Shout>("/shout"));
    start_serving(config, None, apis).await.unwrap()
}

async fn post(app: &RunningApp, header: (&str, &str), body: Value) -> (StatusCode, String) {
    let mut res = awc::Client::default()
        .post(format!("http://{}/v1/shout", app.addr()))
        .insert_header(header)
        .send_json(&body)
        .await
        .unwrap();
    let text = res.body().await.unwrap();
    (res.status(), String::from_utf8(text.to_vec()).unwrap())
}

fn chat(model: &str, stream: bool) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }], "stream": stream })
}

#[actix_web::test]
async fn a_new_api_is_one_module_and_one_route_line() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(&mock, dir.path()).await;
    let key = ("x-shout-key", PROXY_KEY);

    // A rate-limited key rotates to the next; the answer is the API's.
    mock.script(KEY_1, "m", vec![Reply::status(429)]);
    let (status, text) = post(&app, key, chat("mock/m", false)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let shouted = answer["shouted"].as_str().unwrap();
    assert!(
        !shouted.is_empty() && shouted == shouted.to_uppercase(),
        "{answer}"
    );
    assert_eq!(
        answer["messages"], 1,
        "the request's context reached the answer"
    );
    assert_eq!(mock.calls(KEY_1, "m"), 1);
    assert_eq!(mock.calls(KEY_2, "m"), 1);

    // Its own stream frames, and its own end.
    for key in [KEY_1, KEY_2] {
        let words = StreamScript::chat("s", &["ab", "cd"], false);
        mock.script(key, "s", vec![Reply::ok().with_stream(words)]);
    }
    let (status, text) = post(&app, key, chat("mock/s", true)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "MOCK/S: AB\nMOCK/S: CD\nEND\n");

    // Its own error envelope, for the proxy's errors and the provider's.
    let (status, text) = post(&app, key, chat("nowhere/m", false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(serde_json::from_str::<Value>(&text).unwrap()["shout"].is_string());
    for key in [KEY_1, KEY_2] {
        mock.script(key, "bad", vec![Reply::status(422)]);
    }
    let (status, text) = post(&app, key, chat("mock/bad", false)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("MOCK 422"), "{text}");

    // Its own key header; a wrong key is refused in its envelope, and the
    // other APIs do not take its header.
    let (status, text) = post(&app, ("x-shout-key", "wrong"), chat("mock/m", false)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(serde_json::from_str::<Value>(&text).unwrap()["shout"].is_string());
    let res = awc::Client::default()
        .post(format!("http://{}/v1/chat/completions", app.addr()))
        .insert_header(key)
        .insert_header((CONTENT_TYPE, "application/json"))
        .send_json(&chat("mock/m", false))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
