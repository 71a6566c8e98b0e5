//! `spawn_app()`: the real proxy on 127.0.0.1:0, configured from a map, in
//! front of a `MockUpstream`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use bytes::Bytes;
use futures_util::StreamExt;
use llm_key_proxy::cli::Cli;
use llm_key_proxy::config::{load_settings, Config, ConfigSource, EnvMap};
use llm_key_proxy::error::InitError;
use llm_key_proxy::server::{self, RunningApp};
use serde_json::{json, Value};

use mock_upstream::MockUpstream;

pub const PROXY_KEY: &str = "test-proxy-key-0123456789";
/// Provider keys long enough to get distinct masks (`key…0001`).
pub const KEY_1: &str = "key-number-one-0001";
pub const KEY_2: &str = "key-number-two-0002";
pub const KEY_3: &str = "key-number-three-0003";

pub struct TestApp {
    pub base: String,
    pub client: awc::Client,
    pub mock: MockUpstream,
    pub data_dir: PathBuf,
    /// The app's `.env` file (absent at first): keys added at runtime go
    /// there, and a restart or reload reads it under `env`.
    pub env_file: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// The environment the app was configured from, standing for the
    /// process environment (it wins over `env_file`); a reload reads it
    /// again.
    env: Arc<Mutex<Vec<(String, String)>>>,
    app: Option<RunningApp>,
}

/// Options for `spawn_with`.
pub struct Options {
    pub keys: Vec<&'static str>,
    pub extra_env: Vec<(String, String)>,
    /// The provider the keys belong to: `mock` (OpenAI-compatible, at the
    /// mock's `/v1`), `gemini` (native, at the mock's `/v1beta`) or
    /// `anthropic` (native, at the mock's `/v1`).
    pub provider: &'static str,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keys: vec![KEY_1, KEY_2],
            extra_env: Vec::new(),
            provider: "mock",
        }
    }
}

/// A proxy with provider `mock` (keys `KEY_1`, `KEY_2`) at a fresh mock.
pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let mock = MockUpstream::start().await;
    let upper = options.provider.to_ascii_uppercase();
    let base = match options.provider {
        "gemini" => format!("{}/v1beta", mock.origin()),
        _ => mock.base_url.clone(),
    };
    let mut env = vec![
        ("PROXY_API_KEY".to_string(), PROXY_KEY.to_string()),
        (format!("{upper}_API_BASE"), base),
        ("GLOBAL_TIMEOUT".to_string(), "10s".to_string()),
        ("PROXY_WORKERS".to_string(), "2".to_string()),
        // Same-key retries without the real 1 s backoff.
        ("RETRY_BACKOFF_BASE".to_string(), "5ms".to_string()),
    ];
    for (i, key) in options.keys.iter().enumerate() {
        env.push((format!("{upper}_API_KEY_{}", i + 1), key.to_string()));
    }
    env.extend(options.extra_env);
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let env_file = tmp.path().join(".env");
    let mut app = TestApp {
        env_file,
        base: String::new(),
        client: awc::Client::builder().disable_timeout().finish(),
        mock,
        data_dir,
        _tmp: Some(tmp),
        env: Arc::new(Mutex::new(env)),
        app: None,
    };
    app.boot().await;
    app
}

pub fn config_for(env: &[(String, String)], data_dir: &Path) -> Config {
    try_config_for(env, data_dir).unwrap()
}

pub fn try_config_for(env: &[(String, String)], data_dir: &Path) -> Result<Config, InitError> {
    let env: EnvMap = env.iter().cloned().collect();
    try_config_from(&env, data_dir)
}

pub fn try_config_from(env: &EnvMap, data_dir: &Path) -> Result<Config, InitError> {
    let cli = Cli {
        host: Some("127.0.0.1".into()),
        port: Some(0),
        data_dir: Some(data_dir.to_path_buf()),
        ..Cli::default()
    };
    let settings = load_settings(Path::new("/nonexistent/default.toml"), &cli, env)?;
    Config::from_settings(settings, env)
}

impl TestApp {
    async fn boot(&mut self) {
        let env = self.env.clone();
        let data_dir = self.data_dir.clone();
        let source = ConfigSource::new(
            self.env_file.clone(),
            Arc::new(move || env.lock().unwrap().iter().cloned().collect()),
            Arc::new(move |env: &EnvMap| try_config_from(env, &data_dir)),
        );
        let config = source.load().unwrap();
        let app = server::start_with_source(config, Some(source))
            .await
            .unwrap();
        self.base = format!("http://{}", app.addr());
        self.app = Some(app);
    }

    /// Stops the proxy (saving state) and starts it again on the same data
    /// directory and upstream.
    pub async fn restart(&mut self) {
        self.app.take().unwrap().stop().await;
        self.boot().await;
    }

    /// Stops the proxy (saving state) and keeps the data directory, to look
    /// at it.
    pub async fn stop_keeping_data(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    /// Sets (or with `None` removes) a variable for the next reload.
    pub fn set_env(&self, name: &str, value: Option<&str>) {
        let mut env = self.env.lock().unwrap();
        env.retain(|(n, _)| n != name);
        if let Some(value) = value {
            env.push((name.to_string(), value.to_string()));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, Bytes::from(body.to_string()), Some(PROXY_KEY))
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: Bytes,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(path))
            .content_type("application/json");
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let mut res = req.send_body(body).await.unwrap();
        assert!(
            res.headers().contains_key("x-request-id"),
            "every response has x-request-id"
        );
        let bytes = res.body().limit(64 << 20).await.unwrap();
        (
            res.status(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `DELETE path`, with `key` as the proxy key.
    pub async fn delete_json(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.delete(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let mut res = req.send().await.unwrap();
        let bytes = res.body().limit(64 << 20).await.unwrap();
        (
            res.status(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let mut res = self
            .client
            .get(self.url(path))
            .bearer_auth(PROXY_KEY)
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("x-request-id"));
        let bytes = res.body().limit(64 << 20).await.unwrap();
        (
            res.status(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn chat(&self, model: &str) -> (StatusCode, Value) {
        self.post_json("/v1/chat/completions", &chat_body(model))
            .await
    }

    /// Opens a streamed chat; the body is read by the caller.
    pub async fn open_stream(
        &self,
        body: &Value,
    ) -> awc::ClientResponse<
        impl futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>>,
    > {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(PROXY_KEY)
            .send_json(body)
            .await
            .unwrap()
    }

    /// A streamed chat: status, content type and the `data:` payloads.
    pub async fn chat_stream(&self, body: &Value) -> (StatusCode, String, Vec<String>) {
        let mut res = self.open_stream(body).await;
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let mut text = String::new();
        while let Some(chunk) = res.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        (res.status(), content_type, sse_data(&text))
    }

    /// `GET /v1/usage` → counters of `model` for the key with this raw value.
    pub async fn usage_of(&self, key: &str, model: &str) -> Value {
        self.usage_in("mock", key, model).await
    }

    pub async fn usage_in(&self, provider: &str, key: &str, model: &str) -> Value {
        let (_, usage) = self.get_json("/v1/usage").await;
        let id = llm_key_proxy::secret::KeyId::of(key).to_string();
        let keys = usage["providers"][provider]["keys"]
            .as_array()
            .unwrap()
            .clone();
        let entry = keys.into_iter().find(|k| k["id"] == id.as_str()).unwrap();
        entry["models"][model].clone()
    }
}

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// The `data:` payloads of an SSE text.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

pub async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..200 {
        if check() {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A test that needs a program from outside (a CLI, a Python package) and
/// finds it missing: prints why it is skipped and gives `None`. With
/// `LLMKP_REQUIRE_TOOLS` set (`.ci/run` sets it) the test fails instead, so
/// CI cannot pass without running it.
pub fn skip_without<T>(why: String) -> Option<T> {
    assert!(
        std::env::var_os("LLMKP_REQUIRE_TOOLS").is_none(),
        "LLMKP_REQUIRE_TOOLS is set but {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// The `Retry-After` of a chat request's answer, with its status and body.
pub async fn chat_with_retry_after(app: &TestApp, model: &str) -> (StatusCode, Option<u64>, Value) {
    let mut res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(PROXY_KEY)
        .send_json(&chat_body(model))
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body: Value = res.json().await.unwrap();
    (res.status(), retry_after, body)
}

/// A proxy with request logging on, into a temporary directory: the app,
/// the log directory, and its guard (the directory goes with it).
pub async fn spawn_logging() -> (TestApp, PathBuf, tempfile::TempDir) {
    let logs_tmp = tempfile::tempdir().unwrap();
    let logs = logs_tmp.path().join("logs");
    let app = spawn_with(Options {
        extra_env: vec![
            ("ENABLE_REQUEST_LOGGING".into(), "true".into()),
            ("REQUEST_LOG_DIR".into(), logs.display().to_string()),
        ],
        ..Options::default()
    })
    .await;
    (app, logs, logs_tmp)
}
