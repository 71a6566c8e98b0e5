//! The OpenAI-compatible wire format: pure functions that prepare requests
//! and rewrite answers. No I/O here.
//!
//! Answers keep the client's `provider/` prefix on `model`. Streams get
//! `stream_options.include_usage` so usage can be recorded; the usage-only
//! chunk this adds is dropped unless the client asked for it.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    Auth, EmbeddingEncoding, HeaderView, Outbound, StreamTranslator, TokenUsage, WireFormat,
};
use crate::resilience::hints;

/// The OpenAI-compatible format: the request goes through almost as is.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenAiFormat;

// === impl OpenAiFormat ===

impl WireFormat for OpenAiFormat {
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    fn chat_request(
        &self,
        body: Map<String, Value>,
        model: &str,
        stream: bool,
    ) -> Result<Outbound, String> {
        Ok(outbound(CHAT_PATH, body, model, stream))
    }

    fn chat_response(&self, body: &[u8], provider: &str, _model: &str) -> Option<Rewritten> {
        rewrite_response(body, provider)
    }

    fn stream(
        &self,
        provider: &str,
        _model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        Box::new(Passthrough {
            provider: provider.to_string(),
            client_wants_usage,
        })
    }

    fn embeddings_request(
        &self,
        body: Map<String, Value>,
        model: &str,
    ) -> Result<Outbound, String> {
        Ok(outbound(EMBEDDINGS_PATH, body, model, false))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        provider: &str,
        _model: &str,
        // `encoding_format` went upstream with the request.
        _encoding: EmbeddingEncoding,
    ) -> Option<Rewritten> {
        rewrite_response(body, provider)
    }

    fn completions_request(
        &self,
        body: Map<String, Value>,
        model: &str,
        stream: bool,
    ) -> Result<Outbound, String> {
        Ok(outbound(COMPLETIONS_PATH, body, model, stream))
    }

    fn completions_response(&self, body: &[u8], provider: &str) -> Option<Rewritten> {
        rewrite_response(body, provider)
    }

    fn models_path(&self) -> &'static str {
        MODELS_PATH
    }

    fn model_ids(&self, body: &[u8]) -> Option<Vec<String>> {
        model_ids(body)
    }

    /// The generic hints, and Google's and Anthropic's own: both serve an
    /// OpenAI-compatible endpoint that keeps their way of saying "later",
    /// and a Gemini stream's error event keeps its `RetryInfo` when it is
    /// translated into an OpenAI chunk.
    fn retry_hint(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Option<Duration> {
        let headers = HeaderView(headers);
        hints::longest([
            hints::retry_hint(&headers, now),
            super::gemini::retry_info::retry_delay(body),
            super::anthropic::rate_limits::reset_hint(&headers, now),
        ])
    }
}

/// Paths below a provider's base URL.
pub const CHAT_PATH: &str = "/chat/completions";
pub const EMBEDDINGS_PATH: &str = "/embeddings";
/// Legacy text completions.
pub const COMPLETIONS_PATH: &str = "/completions";
pub const MODELS_PATH: &str = "/models";

/// A request to `path`, prepared by [`prepare_request`].
fn outbound(path: &str, mut body: Map<String, Value>, model: &str, stream: bool) -> Outbound {
    let client_wants_usage = prepare_request(&mut body, model, stream);
    Outbound {
        path: path.to_string(),
        body: Value::Object(body),
        client_wants_usage,
    }
}

/// Prepares a chat, completions or embeddings body for the upstream: the bare model name,
/// and for streams `stream_options.include_usage = true`. Returns whether
/// the client itself asked for the usage chunk.
pub fn prepare_request(body: &mut Map<String, Value>, upstream_model: &str, stream: bool) -> bool {
    body.insert("model".into(), Value::String(upstream_model.to_string()));
    if !stream {
        return false;
    }
    let options = body
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    let Some(options) = options.as_object_mut() else {
        return false;
    };
    let asked = options.get("include_usage") == Some(&Value::Bool(true));
    options.insert("include_usage".into(), Value::Bool(true));
    asked
}

/// A non-streaming answer, rewritten for the client.
#[derive(Debug)]
pub struct Rewritten {
    pub body: Vec<u8>,
    pub usage: TokenUsage,
}

/// Prefixes `model` and reads `usage` of a JSON answer. `None` when the body
/// is not a JSON object (an upstream fault).
///
/// The common answer is checked by one pass over its bytes that builds
/// nothing and goes out as the provider wrote it, with `provider/` inserted
/// into the top-level `model` string. Anything that pass does not vouch
/// for (an invalid body, escapes in a top-level name or in `model`, a
/// repeated `model`) takes the exact path: parse into a `Value`, prefix,
/// re-encode.
pub fn rewrite_response(body: &[u8], provider: &str) -> Option<Rewritten> {
    let Some(answer) = json_scan::scan_answer(body) else {
        return rewrite_response_value(body, provider);
    };
    let usage = answer.usage;
    let body = match answer.model {
        Some(model) if !has_prefix_bytes(&body[model.clone()], provider) => {
            let at = model.start;
            let mut out = Vec::with_capacity(body.len() + provider.len() + 1);
            out.extend_from_slice(&body[..at]);
            out.extend_from_slice(provider.as_bytes());
            out.push(b'/');
            out.extend_from_slice(&body[at..]);
            out
        }
        _ => body.to_vec(),
    };
    Some(Rewritten { body, usage })
}

pub use json_scan::Request as PlainRequest;

/// The client's request, if its top level is plain enough to be forwarded
/// as sent with only `model` replaced (see [`with_model`]): a valid JSON
/// object — exactly as `serde_json` would accept it — with no escaped or
/// repeated member names, whose `model` is a string without escapes.
pub fn plain_request(body: &[u8]) -> Option<PlainRequest> {
    json_scan::scan_request(body)
}

/// A plain request (see [`plain_request`]) with the text of `model`
/// replaced by `upstream_model`: what [`prepare_request`] makes of a
/// non-streaming request, without parsing and re-encoding it. `None` if
/// `upstream_model` would need escaping.
pub fn with_model(body: &[u8], request: &PlainRequest, upstream_model: &str) -> Option<Vec<u8>> {
    if upstream_model
        .bytes()
        .any(|c| c < 0x20 || c == b'"' || c == b'\\')
    {
        return None;
    }
    let text = request.model.clone();
    let mut out = Vec::with_capacity(body.len() - text.len() + upstream_model.len());
    out.extend_from_slice(&body[..text.start]);
    out.extend_from_slice(upstream_model.as_bytes());
    out.extend_from_slice(&body[text.end..]);
    Some(out)
}

/// [`rewrite_response`] through a parsed `Value`.
fn rewrite_response_value(body: &[u8], provider: &str) -> Option<Rewritten> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    prefix_model_value(object, provider);
    let usage = usage_of(object.get("usage"));
    let body = serde_json::to_vec(&value).ok()?;
    Some(Rewritten { body, usage })
}

/// Model ids from a `GET /models` answer (`{"data":[{"id":…}]}`).
pub fn model_ids(body: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
            .collect(),
    )
}

fn usage_of(usage: Option<&Value>) -> TokenUsage {
    let field = |name: &str| {
        usage
            .and_then(|u| u.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    TokenUsage {
        prompt_tokens: field("prompt_tokens"),
        completion_tokens: field("completion_tokens"),
    }
}

fn prefix_model_value(object: &mut Map<String, Value>, provider: &str) {
    if let Some(Value::String(model)) = object.get_mut("model") {
        if !has_prefix(model, provider) {
            *model = format!("{provider}/{model}");
        }
    }
}

fn has_prefix(model: &str, provider: &str) -> bool {
    has_prefix_bytes(model.as_bytes(), provider)
}

fn has_prefix_bytes(model: &[u8], provider: &str) -> bool {
    model
        .strip_prefix(provider.as_bytes())
        .is_some_and(|rest| rest.starts_with(b"/"))
}

mod json_keys;
mod json_scan;
pub mod responses;
mod stream;
use stream::{prefix_model_text, Passthrough};
pub use stream::{translate_event, StreamItem, MALFORMED_EVENT};

#[cfg(test)]
mod tests;
