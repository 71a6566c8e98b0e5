//! Shared state of the mock and the request handlers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::script::{
    default_chat_body, default_completion_body, default_embeddings_body, error_body, Reply,
    StreamScript,
};
use super::ANY_MODEL;

const DEFAULT_STREAM_WORDS: [&str; 3] = ["hello", " from", " mock"];

// ---------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------

pub(super) type KeyModel = (String, String);

#[derive(Default)]
pub(super) struct State {
    pub(super) scripts: HashMap<KeyModel, VecDeque<Reply>>,
    /// POST calls per (key, model); `(key, "*")` holds the per-key total.
    pub(super) calls: HashMap<KeyModel, usize>,
    pub(super) path_calls: HashMap<String, usize>,
    pub(super) total: usize,
    /// In-flight per (key, model); `(key, "*")` holds the per-key total.
    pub(super) in_flight: HashMap<KeyModel, usize>,
    pub(super) max_in_flight: HashMap<KeyModel, usize>,
    pub(super) last_body: HashMap<String, Value>,
    /// Lower-cased header names.
    pub(super) last_headers: HashMap<String, Vec<(String, String)>>,
    pub(super) models: Vec<String>,
    pub(super) models_status: Option<u16>,
    /// Stream events (including `[DONE]`) handed to the server so far.
    pub(super) events_sent: usize,
    /// TCP connections accepted.
    pub(super) connections: usize,
    /// `(needle, reply)`: a chat request whose body contains the needle
    /// gets the reply, whatever its key and model.
    pub(super) when: Vec<(String, Reply)>,
    /// The bodies that matched each needle of `when`, in order.
    pub(super) when_bodies: HashMap<String, Vec<Value>>,
}

pub(super) type Shared = Arc<Mutex<State>>;

pub(super) fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the in-flight counters when the request (including a streamed
/// body) is finished or dropped.
pub(super) struct InFlightGuard {
    state: Shared,
    keys: [KeyModel; 2],
}

impl InFlightGuard {
    pub(super) fn enter(state: &Shared, key: &str, model: &str) -> InFlightGuard {
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
// Request handling
// ---------------------------------------------------------------------------

pub(super) async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Shared>,
) -> HttpResponse {
    let state: Shared = state.get_ref().clone();
    let path = req.path().to_string();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    record_common(&state, &req, &path, parsed.as_ref());

    if path.starts_with("/v1beta/") {
        return super::gemini::handle(&state, &req, &path, parsed).await;
    }
    if path.starts_with("/v1/messages") {
        return super::anthropic::handle(&state, &req, &path, parsed).await;
    }
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/v1/models") => models_response(&state),
        (Method::POST, "/v1/chat/completions") => {
            handle_post(&state, &req, Route::Chat, parsed.unwrap_or(Value::Null)).await
        }
        // The Responses API: scripted replies only (a `with_body` answer or
        // a raw stream); unscripted, it answers like chat.
        (Method::POST, "/v1/responses") => {
            handle_post(&state, &req, Route::Chat, parsed.unwrap_or(Value::Null)).await
        }
        (Method::POST, "/v1/completions") => {
            handle_post(
                &state,
                &req,
                Route::Completions,
                parsed.unwrap_or(Value::Null),
            )
            .await
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
    Completions,
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

pub(super) fn next_reply(state: &Shared, key: &str, model: &str, body: Option<&Value>) -> Reply {
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
    if let Some(body) = body.filter(|_| !st.when.is_empty()) {
        let text = body.to_string();
        let found = st
            .when
            .iter()
            .find(|(needle, _)| text.contains(needle.as_str()));
        if let Some((needle, reply)) = found.cloned() {
            st.when_bodies.entry(needle).or_default().push(body.clone());
            return reply;
        }
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

/// The scripted part of a reply, shared by every dialect: counts the call,
/// holds it in flight, waits the delay, and answers when the script decides
/// (a stream, a body, an error status with `error(status)` as body).
/// Otherwise hands back what the dialect needs for its default answer. A
/// request `body` containing a needle of
/// [`MockUpstream::reply_when`](super::MockUpstream::reply_when) gets that
/// reply before any script.
pub(super) async fn scripted_for(
    state: &Shared,
    key: &str,
    model: &str,
    body: Option<&Value>,
    error: fn(u16) -> Value,
) -> Result<HttpResponse, (StatusCode, Reply, InFlightGuard)> {
    let reply = next_reply(state, key, model, body);
    let guard = InFlightGuard::enter(state, key, model);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(script) = reply.stream.clone() {
        return Ok(stream_response(status, &reply.headers, script, guard));
    }
    if let Some(b) = &reply.body {
        return Ok(json_response(status, &reply.headers, b));
    }
    if !status.is_success() {
        return Ok(json_response(status, &reply.headers, &error(reply.status)));
    }
    Err((status, reply, guard))
}

async fn handle_post(state: &Shared, req: &HttpRequest, route: Route, body: Value) -> HttpResponse {
    let key = bearer_key(req);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (status, reply, guard) =
        match scripted_for(state, &key, &model, Some(&body), error_body).await {
            Ok(response) => return response,
            Err(default) => default,
        };
    let wants_stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    if route != Route::Embeddings && wants_stream {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let script = match route {
            Route::Completions => {
                StreamScript::completion(&model, &DEFAULT_STREAM_WORDS, include_usage)
            }
            _ => StreamScript::chat(&model, &DEFAULT_STREAM_WORDS, include_usage),
        };
        return stream_response(status, &reply.headers, script, guard);
    }
    let default = match route {
        Route::Chat => default_chat_body(&model),
        Route::Completions => default_completion_body(&model),
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

pub(super) fn json_response(
    status: StatusCode,
    headers: &[(String, String)],
    body: &Value,
) -> HttpResponse {
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

/// `data: <event>`, or the event as is when it names itself (`event: …`).
fn frame(event: &str) -> String {
    if event.starts_with("event:") {
        format!("{event}\n\n")
    } else {
        format!("data: {event}\n\n")
    }
}

pub(super) fn stream_response(
    status: StatusCode,
    headers: &[(String, String)],
    script: StreamScript,
    guard: InFlightGuard,
) -> HttpResponse {
    if script.endless {
        let frames: Vec<Bytes> = script
            .events
            .iter()
            .map(|ev| Bytes::from(format!("data: {ev}\n\n")))
            .collect();
        let body = futures_util::stream::iter(frames.into_iter().cycle()).map(move |b| {
            let _alive = &guard;
            Ok::<Bytes, std::io::Error>(b)
        });
        return HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/event-stream"))
            .streaming(body);
    }
    let mut items: VecDeque<Item> = VecDeque::new();
    let limit = script.cut_after.unwrap_or(usize::MAX);
    for ev in script.events.iter().take(limit) {
        items.push_back(Item::Data(Bytes::from(frame(ev))));
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
