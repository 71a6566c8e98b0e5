//! Scripted mock of an OpenAI-compatible LLM provider.
//!
//! A real actix-web HTTP server bound to `127.0.0.1:0`. Integration tests point
//! the proxy under test at [`MockUpstream::base_url`] and script replies per
//! `(api key, model)`.
//!
//! Routes:
//! - `POST /v1/chat/completions` (JSON or SSE streaming)
//! - `POST /v1/completions` (legacy text completions, JSON or SSE)
//! - `POST /v1/embeddings`
//! - `GET  /v1/models`
//! - anything else: 404 with an OpenAI-style JSON error body.
// Test code: a broken script or a poisoned lock should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A fake provider stamps its replies with the real time.
#![allow(clippy::disallowed_methods)]

pub mod anthropic;
pub mod gemini;
mod script;
mod serve;

use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use serde_json::Value;

// Re-exported so the public API stays `mock_upstream::X`.
pub use script::{
    default_chat_body, default_completion_body, default_embeddings_body, error_body, Reply,
    StreamScript,
};
use serve::{handle, lock, Shared, State};

/// Model wildcard for [`MockUpstream::script`] (and the per-key aggregates of
/// [`MockUpstream::calls`] / [`MockUpstream::max_in_flight`]).
pub const ANY_MODEL: &str = "*";

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

    /// Starts the server on its own thread, in an actix system of its own,
    /// for tests that are not inside one (those that run the real binary).
    /// The thread lives as long as the test process.
    pub fn start_in_background() -> MockUpstream {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                tx.send(MockUpstream::start().await).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    }

    /// Starts on a chosen port with `workers` threads (the example binary
    /// uses this to serve manual trials and benchmarks).
    pub async fn start_on(port: u16, workers: usize) -> MockUpstream {
        let state: Shared = Arc::new(Mutex::new(State {
            models: vec!["mock-model-a".to_string(), "mock-model-b".to_string()],
            ..State::default()
        }));
        let app_state = state.clone();
        let counted = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(app_state.clone()))
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .on_connect(move |_, _| lock(&counted).connections += 1)
        .workers(workers)
        .disable_signals()
        .h1_allow_half_closed(false)
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

    /// Answers `reply` to every request of any dialect (any key, any
    /// model) whose JSON body contains `needle`, before any [`Self::script`];
    /// [`Self::bodies_with`] gives those bodies. For clients that send
    /// requests of their own besides the ones a test scripts (Claude Code).
    pub fn reply_when(&self, needle: &str, reply: Reply) {
        lock(&self.state).when.push((needle.to_string(), reply));
    }

    /// The bodies that got the reply of [`Self::reply_when`] for `needle`.
    pub fn bodies_with(&self, needle: &str) -> Vec<Value> {
        let st = lock(&self.state);
        st.when_bodies.get(needle).cloned().unwrap_or_default()
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

    /// Stream events (including `[DONE]`) sent so far, all streams together.
    pub fn events_sent(&self) -> usize {
        lock(&self.state).events_sent
    }

    /// TCP connections accepted so far (a client that keeps its
    /// connections alive opens few).
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// What `GET /v1/models` lists.
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
