//! Anthropic as a [`WireFormat`]: the key in `x-api-key` with
//! `anthropic-version`, the Messages API behind the trait, streams
//! re-shaped into OpenAI chunks and then handled like any OpenAI stream.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::rate_limits::reset_hint;
use super::{
    chat_response, count_tokens_request, count_tokens_response, messages_request, model_ids,
    ToOpenAiStream, API_VERSION, COUNT_TOKENS_PATH, MESSAGES_PATH,
};
use crate::providers::openai::rewrite_response;
use crate::providers::openai_error_envelope;
use crate::providers::{
    client_wants_usage, unix_now, Auth, EmbeddingEncoding, HeaderView, Outbound, ReshapedStream,
    Rewritten, StreamTranslator, WireFormat,
};
use crate::resilience::hints;

/// Anthropic's Messages API, natively.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnthropicFormat;

// === impl AnthropicFormat ===

impl WireFormat for AnthropicFormat {
    fn auth(&self) -> Auth {
        Auth::Header("x-api-key")
    }

    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("anthropic-version", API_VERSION)]
    }

    fn chat_request(
        &self,
        mut body: Map<String, Value>,
        model: &str,
        _stream: bool,
    ) -> Result<Outbound, String> {
        let client_wants_usage = client_wants_usage(&body);
        body.insert("model".into(), Value::String(model.to_string()));
        Ok(Outbound {
            path: MESSAGES_PATH.to_string(),
            body: messages_request(&Value::Object(body))?,
            client_wants_usage,
        })
    }

    fn chat_response(&self, body: &[u8], provider: &str, _model: &str) -> Option<Rewritten> {
        let anthropic: Value = serde_json::from_slice(body).ok()?;
        let openai = chat_response(&anthropic, unix_now()).ok()?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn stream(
        &self,
        provider: &str,
        _model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        let mut state = ToOpenAiStream::new(unix_now());
        ReshapedStream::boxed(provider, client_wants_usage, move |event| {
            state.chunks(event)
        })
    }

    fn embeddings_request(
        &self,
        _body: Map<String, Value>,
        _model: &str,
    ) -> Result<Outbound, String> {
        Err("anthropic has no embeddings API: ask another provider for embeddings".into())
    }

    fn embeddings_response(
        &self,
        _body: &[u8],
        _provider: &str,
        _model: &str,
        _encoding: EmbeddingEncoding,
    ) -> Option<Rewritten> {
        None
    }

    fn models_path(&self) -> &'static str {
        // The largest page Anthropic allows; the default (20) drops models.
        "/models?limit=1000"
    }

    fn client_error_body(&self, body: Bytes) -> Bytes {
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match value["error"]["message"].as_str() {
            Some(message) => openai_error_envelope(message, value["error"]["type"].as_str()),
            None => body,
        }
    }

    /// Anthropic says "prompt is too long: 215000 tokens > 200000 maximum".
    fn is_context_length(&self, _status: StatusCode, body: &[u8]) -> bool {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("prompt is too long"))
    }

    fn model_ids(&self, body: &[u8]) -> Option<Vec<String>> {
        let anthropic: Value = serde_json::from_slice(body).ok()?;
        anthropic.get("data")?;
        Some(model_ids(&anthropic))
    }

    fn count_tokens_request(
        &self,
        body: &Map<String, Value>,
        model: &str,
    ) -> Option<Result<Outbound, String>> {
        let mut body = body.clone();
        body.insert("model".into(), Value::String(model.to_string()));
        if let Some(Value::String(text)) = body.remove("text") {
            body.insert(
                "messages".into(),
                serde_json::json!([{"role": "user", "content": text}]),
            );
        }
        Some(
            count_tokens_request(&Value::Object(body)).map(|body| Outbound {
                path: COUNT_TOKENS_PATH.to_string(),
                body,
                client_wants_usage: false,
            }),
        )
    }

    fn count_tokens_response(&self, body: &[u8]) -> Option<u64> {
        count_tokens_response(&serde_json::from_slice::<Value>(body).ok()?)
    }

    /// The generic hints and the `anthropic-ratelimit-*-reset` headers.
    fn retry_hint(
        &self,
        headers: &HeaderMap,
        _body: &[u8],
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let headers = HeaderView(headers);
        hints::longest([hints::retry_hint(&headers, now), reset_hint(&headers, now)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use actix_web::http::StatusCode;
    use chrono::DateTime;

    use crate::vocab::{Failure, FailureKind, Verdict};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/anthropic/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn error_fixtures_are_classified_with_their_hints() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-ratelimit-input-tokens-reset"),
            HeaderValue::from_static("2026-11-24T12:00:45Z"),
        );
        let limited = AnthropicFormat.classify_error(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            &fixture("error_rate_limit.json"),
            now,
        );
        assert_eq!(
            limited,
            Verdict::Failed(Failure {
                kind: FailureKind::RateLimited,
                hint: Some(std::time::Duration::from_secs(45))
            })
        );
        let none = HeaderMap::new();
        let auth = AnthropicFormat.classify_error(
            StatusCode::UNAUTHORIZED,
            &none,
            &fixture("error_authentication.json"),
            now,
        );
        assert!(matches!(
            auth,
            Verdict::Failed(Failure {
                kind: FailureKind::KeyRejected,
                ..
            })
        ));
        let invalid = AnthropicFormat.classify_error(
            StatusCode::BAD_REQUEST,
            &none,
            &fixture("error_invalid_request.json"),
            now,
        );
        assert_eq!(invalid, Verdict::ClientError);
        let overloaded = AnthropicFormat.classify_error(
            StatusCode::from_u16(529).unwrap(),
            &none,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            now,
        );
        assert!(matches!(
            overloaded,
            Verdict::Failed(Failure {
                kind: FailureKind::Transient,
                ..
            })
        ));
    }

    #[test]
    fn refusals_are_rewrapped_for_openai_clients() {
        let body =
            AnthropicFormat.client_error_body(Bytes::from(fixture("error_invalid_request.json")));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("max_tokens: 100000"));
        assert_eq!(v["error"]["code"], "invalid_request_error");
    }
}
