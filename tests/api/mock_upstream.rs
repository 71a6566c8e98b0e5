//! Scripted mock of an OpenAI-compatible LLM provider.
//!
//! A real actix-web HTTP server bound to `127.0.0.1:0`. Integration tests point
//! the proxy under test at [`MockUpstream::base_url`] and script replies per
//! `(api key, model)`.
//!
//! Routes:
//! - `POST /v1/chat/completions` (JSON or SSE streaming)
//! - `POST /v1/embeddings`
//! - `GET  /v1/models`
//! - anything else: 404 with an OpenAI-style JSON error body.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use serde_json::{json, Value};

/// Model wildcard for [`MockUpstream::script`] (and the per-key aggregates of
/// [`MockUpstream::calls`] / [`MockUpstream::max_in_flight`]).
pub const ANY_MODEL: &str = "*";

const DEFAULT_CONTENT: &str = "hello from mock";
const DEFAULT_STREAM_WORDS: [&str; 3] = ["hello", " from", " mock"];

// ---------------------------------------------------------------------------
// Reply / StreamScript
// ---------------------------------------------------------------------------

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// Explicit JSON body. `None` = the route's default body (2xx) or an
    /// OpenAI-style error body (non-2xx).
    pub body: Option<Value>,
    /// Explicit SSE script. `None` + request `"stream": true` + 2xx status
    /// = default chat stream.
    pub stream: Option<StreamScript>,
}

impl Reply {
    /// 200 with the route's default body.
    pub fn ok() -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: None,
            stream: None,
        }
    }

    /// `code` with `{"error":{"message":"mock <code>","type":"mock_error","code":<code>}}`.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: Some(error_body(code)),
            stream: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn with_body(mut self, v: Value) -> Reply {
        self.body = Some(v);
        self
    }

    pub fn with_stream(mut self, s: StreamScript) -> Reply {
        self.stream = Some(s);
        self
    }
}

/// A server-sent-events script.
#[derive(Clone, Debug)]
pub struct StreamScript {
    /// The `data:` payloads, without the `"data: "` prefix.
    pub events: Vec<String>,
    /// Sleep between consecutive writes (the first event goes out immediately;
    /// the gap also precedes `[DONE]` / the cut).
    pub gap: Duration,
    /// After this many events, abort the connection (body stream error, no
    /// terminating chunk, no `[DONE]`).
    pub cut_after: Option<usize>,
    pub send_done: bool,
}

impl StreamScript {
    /// Realistic OpenAI `chat.completion.chunk` sequence: role chunk, one
    /// content chunk per word, finish chunk (`finish_reason: "stop"`) and, if
    /// `include_usage`, a final `"choices": []` chunk carrying usage.
    pub fn chat(model: &str, words: &[&str], include_usage: bool) -> StreamScript {
        let id = "chatcmpl-mock-stream";
        let created = now_secs();
        let chunk = |choices: Value| {
            let mut v = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": choices,
            });
            if include_usage {
                v["usage"] = Value::Null;
            }
            v
        };
        let mut events = Vec::with_capacity(words.len() + 3);
        events.push(chunk(json!([{
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null
        }])));
        for w in words {
            events.push(chunk(json!([{
                "index": 0,
                "delta": {"content": w},
                "logprobs": null,
                "finish_reason": null
            }])));
        }
        events.push(chunk(json!([{
            "index": 0,
            "delta": {},
            "logprobs": null,
            "finish_reason": "stop"
        }])));
        if include_usage {
            let completion = words.len() as u64;
            let mut last = chunk(json!([]));
            last["usage"] = json!({
                "prompt_tokens": 10,
                "completion_tokens": completion,
                "total_tokens": 10 + completion,
            });
            events.push(last);
        }
        StreamScript {
            events: events.iter().map(Value::to_string).collect(),
            gap: Duration::ZERO,
            cut_after: None,
            send_done: true,
        }
    }

    /// Arbitrary raw payloads (each becomes `data: <payload>\n\n`).
    pub fn raw(events: Vec<String>) -> StreamScript {
        StreamScript {
            events,
            gap: Duration::ZERO,
            cut_after: None,
            send_done: true,
        }
    }

    pub fn with_gap(mut self, d: Duration) -> Self {
        self.gap = d;
        self
    }

    pub fn cut_after(mut self, n: usize) -> Self {
        self.cut_after = Some(n);
        self
    }

    pub fn without_done(mut self) -> Self {
        self.send_done = false;
        self
    }
}

// ---------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------

type KeyModel = (String, String);

#[derive(Default)]
struct State {
    scripts: HashMap<KeyModel, VecDeque<Reply>>,
    /// POST calls per (key, model); `(key, "*")` holds the per-key total.
    calls: HashMap<KeyModel, usize>,
    path_calls: HashMap<String, usize>,
    total: usize,
    /// In-flight per (key, model); `(key, "*")` holds the per-key total.
    in_flight: HashMap<KeyModel, usize>,
    max_in_flight: HashMap<KeyModel, usize>,
    last_body: HashMap<String, Value>,
    /// Lower-cased header names.
    last_headers: HashMap<String, Vec<(String, String)>>,
    models: Vec<String>,
    models_status: Option<u16>,
    /// Stream events (including `[DONE]`) handed to the server so far.
    events_sent: usize,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the in-flight counters when the request (including a streamed
/// body) is finished or dropped.
struct InFlightGuard {
    state: Shared,
    keys: [KeyModel; 2],
}

impl InFlightGuard {
    fn enter(state: &Shared, key: &str, model: &str) -> InFlightGuard {
        let keys = [
            (key.to_string(), model.to_string()),
            (key.to_string(), ANY_MODEL.to_string()),
        ];
        let mut st = lock(state);
        // If the model literally is "*", only count once.
        let n = if model == ANY_MODEL { 1 } else { 2 };
        for k in &keys[..n] {
            let cur = {
                let c = st.in_flight.entry(k.clone()).or_insert(0);
                *c += 1;
                *c
            };
            let m = st.max_in_flight.entry(k.clone()).or_insert(0);
            *m = (*m).max(cur);
        }
        drop(st);
        InFlightGuard {
            state: state.clone(),
            keys,
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        let n = if self.keys[0].1 == ANY_MODEL { 1 } else { 2 };
        for k in &self.keys[..n] {
            if let Some(c) = st.in_flight.get_mut(k) {
                *c = c.saturating_sub(1);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// MockUpstream
// ---------------------------------------------------------------------------

pub struct MockUpstream {
    /// `http://127.0.0.1:<port>/v1`
    pub base_url: String,
    state: Shared,
    handle: ServerHandle,
}

impl MockUpstream {
    /// Starts the server (2 workers) on an ephemeral port. Must be called
    /// inside an actix system (e.g. `#[actix_web::test]`).
    pub async fn start() -> MockUpstream {
        MockUpstream::start_on(0, 2).await
    }

    /// Starts on a chosen port with `workers` threads (the example binary
    /// uses this to serve manual trials and benchmarks).
    pub async fn start_on(port: u16, workers: usize) -> MockUpstream {
        let state: Shared = Arc::new(Mutex::new(State {
            models: vec!["mock-model-a".to_string(), "mock-model-b".to_string()],
            ..State::default()
        }));
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_state.clone()))
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", port))
        .expect("mock upstream: bind 127.0.0.1");
        let addr = server
            .addrs()
            .first()
            .copied()
            .expect("mock upstream: no bound address");
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        MockUpstream {
            base_url: format!("http://{addr}/v1"),
            state,
            handle,
        }
    }

    /// Origin without the `/v1` suffix, e.g. `http://127.0.0.1:1234`.
    pub fn origin(&self) -> String {
        self.base_url.trim_end_matches("/v1").to_string()
    }

    /// Sets (replaces) the reply queue for `(key, model)`; `model == "*"`
    /// matches any model that has no queue of its own. Replies are consumed in
    /// order; the last one repeats forever. An empty vec clears the script.
    pub fn script(&self, key: &str, model: &str, replies: Vec<Reply>) {
        let mut st = lock(&self.state);
        let k = (key.to_string(), model.to_string());
        if replies.is_empty() {
            st.scripts.remove(&k);
        } else {
            st.scripts.insert(k, replies.into());
        }
    }

    /// POST requests (chat / embeddings) received for `key` + `model`.
    /// `model == "*"` gives the per-key total (same as [`Self::calls_for_key`]).
    pub fn calls(&self, key: &str, model: &str) -> usize {
        let st = lock(&self.state);
        st.calls
            .get(&(key.to_string(), model.to_string()))
            .copied()
            .unwrap_or(0)
    }

    pub fn calls_for_key(&self, key: &str) -> usize {
        self.calls(key, ANY_MODEL)
    }

    /// Requests (any method, including 404s) received on `path`, e.g.
    /// `"/v1/models"`. Query strings are not part of the path.
    pub fn path_calls(&self, path: &str) -> usize {
        lock(&self.state).path_calls.get(path).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        lock(&self.state).total
    }

    /// Highest number of concurrently in-flight requests (including the whole
    /// streamed body) seen for `key` + `model`; `model == "*"` = per key.
    pub fn max_in_flight(&self, key: &str, model: &str) -> usize {
        let st = lock(&self.state);
        st.max_in_flight
            .get(&(key.to_string(), model.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Currently in-flight requests for `key` + `model` (`"*"` = per key).
    pub fn in_flight(&self, key: &str, model: &str) -> usize {
        let st = lock(&self.state);
        st.in_flight
            .get(&(key.to_string(), model.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Last JSON body received on `path` (non-JSON bodies are not recorded).
    pub fn last_body(&self, path: &str) -> Option<Value> {
        lock(&self.state).last_body.get(path).cloned()
    }

    /// A header (case-insensitive name) of the last request on `path`.
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        let st = lock(&self.state);
        st.last_headers
            .get(path)?
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// What `GET /v1/models` lists.
    /// Stream events (including `[DONE]`) sent so far, all streams together.
    pub fn events_sent(&self) -> usize {
        lock(&self.state).events_sent
    }

    pub fn set_models(&self, ids: Vec<&str>) {
        lock(&self.state).models = ids.into_iter().map(str::to_string).collect();
    }

    /// Make `GET /v1/models` answer `status` with an error body.
    pub fn fail_models(&self, status: u16) {
        lock(&self.state).models_status = Some(status);
    }

    /// Undo [`Self::fail_models`].
    pub fn restore_models(&self) {
        lock(&self.state).models_status = None;
    }

    /// Forget all recorded calls / bodies / headers (scripts are kept).
    pub fn reset_counters(&self) {
        let mut st = lock(&self.state);
        st.calls.clear();
        st.path_calls.clear();
        st.total = 0;
        st.max_in_flight.clear();
        st.last_body.clear();
        st.last_headers.clear();
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        // The stop command is sent synchronously; not awaiting is fine.
        drop(self.handle.stop(false));
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<Shared>) -> HttpResponse {
    let state: Shared = state.get_ref().clone();
    let path = req.path().to_string();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    record_common(&state, &req, &path, parsed.as_ref());

    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/v1/models") => models_response(&state),
        (Method::POST, "/v1/chat/completions") => {
            handle_post(&state, &req, Route::Chat, parsed.unwrap_or(Value::Null)).await
        }
        (Method::POST, "/v1/embeddings") => {
            handle_post(
                &state,
                &req,
                Route::Embeddings,
                parsed.unwrap_or(Value::Null),
            )
            .await
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &[],
            &json!({"error": {
                "message": format!("mock: no route for {} {}", req.method(), path),
                "type": "invalid_request_error",
                "code": 404
            }}),
        ),
    }
}

fn record_common(state: &Shared, req: &HttpRequest, path: &str, body: Option<&Value>) {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut st = lock(state);
    st.total += 1;
    *st.path_calls.entry(path.to_string()).or_insert(0) += 1;
    st.last_headers.insert(path.to_string(), headers);
    if let Some(b) = body {
        st.last_body.insert(path.to_string(), b.clone());
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Embeddings,
}

fn bearer_key(req: &HttpRequest) -> String {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return String::new();
    };
    let v = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_string(),
        _ => String::new(),
    }
}

fn next_reply(state: &Shared, key: &str, model: &str) -> Reply {
    let mut st = lock(state);
    // calls bookkeeping
    *st.calls
        .entry((key.to_string(), model.to_string()))
        .or_insert(0) += 1;
    if model != ANY_MODEL {
        *st.calls
            .entry((key.to_string(), ANY_MODEL.to_string()))
            .or_insert(0) += 1;
    }
    let exact = (key.to_string(), model.to_string());
    let wildcard = (key.to_string(), ANY_MODEL.to_string());
    let k = if st.scripts.get(&exact).is_some_and(|q| !q.is_empty()) {
        exact
    } else {
        wildcard
    };
    match st.scripts.get_mut(&k) {
        Some(q) if q.len() > 1 => q.pop_front().unwrap_or_else(Reply::ok),
        Some(q) => q.front().cloned().unwrap_or_else(Reply::ok),
        None => Reply::ok(),
    }
}

async fn handle_post(state: &Shared, req: &HttpRequest, route: Route, body: Value) -> HttpResponse {
    let key = bearer_key(req);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let reply = next_reply(state, &key, &model);
    let guard = InFlightGuard::enter(state, &key, &model);

    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }

    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);

    if let Some(script) = reply.stream.clone() {
        return stream_response(status, &reply.headers, script, guard);
    }
    if let Some(b) = &reply.body {
        return json_response(status, &reply.headers, b);
    }
    if !status.is_success() {
        return json_response(status, &reply.headers, &error_body(reply.status));
    }
    let wants_stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    if route == Route::Chat && wants_stream {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let script = StreamScript::chat(&model, &DEFAULT_STREAM_WORDS, include_usage);
        return stream_response(status, &reply.headers, script, guard);
    }
    let default = match route {
        Route::Chat => default_chat_body(&model),
        Route::Embeddings => default_embeddings_body(&model, &body),
    };
    json_response(status, &reply.headers, &default)
}

fn models_response(state: &Shared) -> HttpResponse {
    let (models, fail) = {
        let st = lock(state);
        (st.models.clone(), st.models_status)
    };
    if let Some(code) = fail {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(status, &[], &error_body(code));
    }
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000u64, "owned_by": "mock"}))
        .collect();
    json_response(
        StatusCode::OK,
        &[],
        &json!({"object": "list", "data": data}),
    )
}

fn json_response(status: StatusCode, headers: &[(String, String)], body: &Value) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_TYPE, "application/json"));
    for (n, v) in headers {
        b.insert_header((n.as_str(), v.as_str()));
    }
    b.body(body.to_string())
}

enum Item {
    Data(Bytes),
    Cut,
}

fn stream_response(
    status: StatusCode,
    headers: &[(String, String)],
    script: StreamScript,
    guard: InFlightGuard,
) -> HttpResponse {
    let mut items: VecDeque<Item> = VecDeque::new();
    let limit = script.cut_after.unwrap_or(usize::MAX);
    for ev in script.events.iter().take(limit) {
        items.push_back(Item::Data(Bytes::from(format!("data: {ev}\n\n"))));
    }
    if script.cut_after.is_some() {
        items.push_back(Item::Cut);
    } else if script.send_done {
        items.push_back(Item::Data(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let gap = script.gap;

    let body = futures_util::stream::unfold(
        (items, true, guard),
        move |(mut items, first, guard)| async move {
            let item = items.pop_front()?;
            if !first && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            match item {
                Item::Data(b) => {
                    lock(&guard.state).events_sent += 1;
                    Some((Ok::<Bytes, std::io::Error>(b), (items, false, guard)))
                }
                Item::Cut => {
                    // Return Pending once so the dispatcher flushes the events
                    // already written before the connection is torn down.
                    tokio::task::yield_now().await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "mock upstream: stream cut",
                        )),
                        (items, false, guard),
                    ))
                }
            }
        },
    );

    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_TYPE, "text/event-stream"));
    b.insert_header((header::CACHE_CONTROL, "no-cache"));
    for (n, v) in headers {
        b.insert_header((n.as_str(), v.as_str()));
    }
    b.streaming(body)
}

// ---------------------------------------------------------------------------
// Default bodies
// ---------------------------------------------------------------------------

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `{"error":{"message":"mock <code>","type":"mock_error","code":<code>}}`
pub fn error_body(code: u16) -> Value {
    json!({"error": {"message": format!("mock {code}"), "type": "mock_error", "code": code}})
}

pub fn default_chat_body(model: &str) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": DEFAULT_CONTENT},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

pub fn default_embeddings_body(model: &str, request: &Value) -> Value {
    let n = match request.get("input") {
        Some(Value::Array(a)) => a.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 4, "total_tokens": 4}
    })
}
