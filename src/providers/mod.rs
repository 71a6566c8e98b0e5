//! Provider wire formats. Each format implements [`WireFormat`]: how a key
//! is sent, and pure converters between the OpenAI shape clients speak and
//! the provider's own (request, response, stream events, model list). The
//! OpenAI-compatible format is one implementation, not a special case.
//! `presets` lists the built-in providers.

pub mod anthropic;
pub mod embedding;
pub mod gemini;
pub mod openai;
pub mod presets;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use std::time::Duration;

use crate::resilience::classify::classify_status;
use crate::resilience::hints;
use crate::vocab::Verdict;

/// How a provider key is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI-compatible providers).
    Bearer,
    /// The key alone in this header (`x-goog-api-key`, `x-api-key`).
    Header(&'static str),
}

/// Tokens an upstream answer reported using.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}
pub use embedding::EmbeddingEncoding;
pub use openai::{Rewritten, StreamItem};

/// The wire formats the proxy speaks upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    OpenAi,
    /// Google's Generative Language API (`generateContent`).
    Gemini,
    /// Anthropic's Messages API.
    Anthropic,
}

/// What to send upstream for one client request.
#[derive(Debug)]
pub struct Outbound {
    /// Path below the provider's base URL, with any query.
    pub path: String,
    pub body: Value,
    /// The client itself asked for the stream's usage chunk.
    pub client_wants_usage: bool,
}

/// One wire format's converters. Pure: no I/O.
pub trait WireFormat: Send + Sync + 'static {
    /// How the provider key is sent.
    fn auth(&self) -> Auth;

    /// Fixed headers every call carries.
    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// A chat request (OpenAI shape, `model` without the provider prefix).
    fn chat_request(
        &self,
        body: Map<String, Value>,
        model: &str,
        stream: bool,
    ) -> Result<Outbound, String>;

    /// A non-streaming chat answer, in the OpenAI shape with the client's
    /// `provider/` prefix on `model`. `None` when the body is unusable.
    fn chat_response(&self, body: &[u8], provider: &str, model: &str) -> Option<Rewritten>;

    /// A translator for one stream's events.
    fn stream(
        &self,
        provider: &str,
        model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator>;

    /// An embeddings request (OpenAI shape), or why the provider cannot.
    fn embeddings_request(&self, body: Map<String, Value>, model: &str)
        -> Result<Outbound, String>;

    /// An embeddings answer, its vectors encoded as the client asked
    /// (`encoding_format`; a format that passes the field upstream leaves
    /// them as the provider encoded them).
    fn embeddings_response(
        &self,
        body: &[u8],
        provider: &str,
        model: &str,
        encoding: EmbeddingEncoding,
    ) -> Option<Rewritten>;

    /// A legacy text completion request (`POST /v1/completions`, OpenAI
    /// shape). Only OpenAI-compatible providers have the endpoint; a native
    /// API is refused with a pointer to chat.
    fn completions_request(
        &self,
        _body: Map<String, Value>,
        model: &str,
        _stream: bool,
    ) -> Result<Outbound, String> {
        Err(format!(
            "legacy text completions (POST /v1/completions) are only for OpenAI-compatible \
             providers, and `{model}` is served through its provider's native API: send the \
             prompt as `messages` to POST /v1/chat/completions instead"
        ))
    }

    /// A non-streaming completions answer with the client's `provider/`
    /// prefix on `model`. `None` when the body is unusable.
    fn completions_response(&self, _body: &[u8], _provider: &str) -> Option<Rewritten> {
        None
    }

    /// Path of the model list below the base URL.
    fn models_path(&self) -> &'static str;

    /// Model ids (without the provider prefix) from the model list.
    fn model_ids(&self, body: &[u8]) -> Option<Vec<String>>;

    /// The provider's own token counter for `{"messages"}` or `{"text"}`,
    /// if it has one.
    fn count_tokens_request(
        &self,
        _body: &Map<String, Value>,
        _model: &str,
    ) -> Option<Result<Outbound, String>> {
        None
    }

    /// The count from the token counter's answer.
    fn count_tokens_response(&self, _body: &[u8]) -> Option<u64> {
        None
    }

    /// What a non-2xx answer means: the shared status table of
    /// `resilience::classify`, unless the format says more (Gemini reports a
    /// bad key as 400), with the format's [`retry_hint`](Self::retry_hint).
    fn classify_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Verdict {
        classify_status(status, body, || self.retry_hint(headers, body, now))
    }

    /// How long a failed answer asks us to wait, measured from `now`: the
    /// generic `Retry-After`, `retry-after-ms` and `x-ratelimit-reset*`
    /// headers, plus whatever the provider says in its own way.
    fn retry_hint(
        &self,
        headers: &HeaderMap,
        _body: &[u8],
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        hints::retry_hint(&HeaderView(headers), now)
    }

    /// What an `{"error":…}` event that came as a stream's first event (an
    /// upstream 200 that is really a failure) means, by the status or code
    /// it carries and the format's retry hint in it.
    fn classify_stream_error(&self, data: &str, now: DateTime<Utc>) -> Verdict {
        let hint = || self.retry_hint(&HeaderMap::new(), data.as_bytes(), now);
        crate::resilience::classify::classify_stream_error(data, hint)
    }

    /// The provider's own refusal, for an OpenAI client: the OpenAI error
    /// envelope with the provider's message (OpenAI-compatible providers
    /// already answer in it).
    fn client_error_body(&self, body: Bytes) -> Bytes {
        body
    }

    /// Whether a refusal (a client error) says the input is longer than
    /// the model's context, so a route may take it to a model with a
    /// larger one. OpenAI's rule by default: the code
    /// `context_length_exceeded`, or its "maximum context length" message.
    fn is_context_length(&self, _status: StatusCode, body: &[u8]) -> bool {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value["error"];
        error["code"] == "context_length_exceeded"
            || error["message"]
                .as_str()
                .is_some_and(|m| m.contains("maximum context length"))
    }

    /// The model id as the provider's routes and filters see it.
    fn normalize_model<'a>(&self, model: &'a str) -> &'a str {
        model
    }

    /// Why `model` (normalized) cannot be sent in this format, if it cannot.
    /// Only formats that put the model in the URL restrict it: in a JSON
    /// body any string is safe (`meta-llama/Llama-3-8b`, `llama3:8b`).
    fn check_model(&self, _model: &str) -> Result<(), String> {
        Ok(())
    }
}

/// What a stream's error event means. Every stream reaches the relay
/// translated into OpenAI chunks, so the OpenAI-compatible format's rules
/// read it (a Gemini error event keeps its `RetryInfo` through the
/// translation).
pub fn classify_stream_error(data: &str, now: DateTime<Utc>) -> Verdict {
    openai::OpenAiFormat.classify_stream_error(data, now)
}

/// An upstream answer's headers seen through the hint parsers' trait.
pub struct HeaderView<'a>(pub &'a HeaderMap);

impl hints::Headers for HeaderView<'_> {
    fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }

    fn names(&self) -> Vec<String> {
        self.0.keys().map(|k| k.as_str().to_string()).collect()
    }
}

/// An OpenAI error envelope for a provider's refusal, keeping its message.
pub fn openai_error_envelope(message: &str, code: Option<&str>) -> Bytes {
    let body = serde_json::json!({"error": {
        "message": message, "type": "invalid_request_error", "param": null, "code": code
    }});
    Bytes::from(body.to_string())
}

/// Turns one stream's upstream events into OpenAI-shaped stream items.
pub trait StreamTranslator: Send {
    /// Appends the items one event makes to `items`. `data` is the event's
    /// data as the provider sent it (not checked to be UTF-8).
    fn items(&mut self, data: &Bytes, items: &mut Vec<StreamItem>);
}

/// A native stream: each upstream event is reshaped into OpenAI chunks by
/// `reshape`, which are then handled like any OpenAI-compatible stream's.
pub struct ReshapedStream<F> {
    reshape: F,
    provider: String,
    client_wants_usage: bool,
}

/// Stands in for an event that is not JSON.
const UNREADABLE_EVENT: &str = r#"{"error":{"message":"the provider sent an unreadable stream event","type":"upstream_error"}}"#;

impl<F> ReshapedStream<F>
where
    F: FnMut(&Value) -> Vec<Value> + Send + 'static,
{
    pub fn boxed(
        provider: &str,
        client_wants_usage: bool,
        reshape: F,
    ) -> Box<dyn StreamTranslator> {
        Box::new(ReshapedStream {
            reshape,
            provider: provider.to_string(),
            client_wants_usage,
        })
    }
}

impl<F> StreamTranslator for ReshapedStream<F>
where
    F: FnMut(&Value) -> Vec<Value> + Send,
{
    fn items(&mut self, data: &Bytes, items: &mut Vec<StreamItem>) {
        let Ok(event) = serde_json::from_str::<Value>(&String::from_utf8_lossy(data)) else {
            items.push(StreamItem::Error(UNREADABLE_EVENT.to_string()));
            return;
        };
        items.extend((self.reshape)(&event).iter().map(|chunk| {
            openai::translate_event(
                &Bytes::from(chunk.to_string()),
                &self.provider,
                self.client_wants_usage,
            )
        }));
    }
}

/// `value[key]` as a string slice.
pub fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `value[key]` as a number, 0 when absent.
pub fn u64_of(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Whether an OpenAI request asked for the stream's usage chunk.
pub fn client_wants_usage(body: &Map<String, Value>) -> bool {
    body.get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Seconds since the epoch, for `created` fields.
// A response timestamp, not key state: the real clock is right here.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// === impl Format ===

impl Format {
    /// The converters of this format.
    pub fn wire(self) -> &'static dyn WireFormat {
        match self {
            Format::OpenAi => &openai::OpenAiFormat,
            Format::Gemini => &gemini::GeminiFormat,
            Format::Anthropic => &anthropic::AnthropicFormat,
        }
    }
}

#[cfg(test)]
#[path = "context_length_tests.rs"]
mod context_length_tests;
