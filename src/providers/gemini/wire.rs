//! Gemini as a [`WireFormat`]: the key in `x-goog-api-key`, the converters
//! of this module behind the trait, streams re-shaped into OpenAI chunks
//! and then handled like any OpenAI-compatible stream.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::retry_info::retry_delay;
use super::{
    chat_path, chat_request, chat_response, check_model_segment, count_tokens_request,
    count_tokens_response, embeddings_request, embeddings_response, model_ids, StreamState,
};
use crate::providers::openai::rewrite_response;
use crate::providers::openai_error_envelope;
use crate::providers::{
    client_wants_usage, unix_now, Auth, EmbeddingEncoding, HeaderView, Outbound, ReshapedStream,
    Rewritten, StreamTranslator, WireFormat,
};
use crate::resilience::classify::classify_status;
use crate::resilience::hints;
use crate::vocab::{Failure, FailureKind, Verdict};

/// Markers of Google's answer to an invalid or expired key (HTTP 400).
const INVALID_KEY_MARKERS: &[&str] = &["API_KEY_INVALID", "API key not valid", "API key expired"];

/// Google's Generative Language API, natively.
#[derive(Clone, Copy, Debug, Default)]
pub struct GeminiFormat;

// === impl GeminiFormat ===

impl WireFormat for GeminiFormat {
    fn auth(&self) -> Auth {
        Auth::Header("x-goog-api-key")
    }

    fn chat_request(
        &self,
        body: Map<String, Value>,
        model: &str,
        stream: bool,
    ) -> Result<Outbound, String> {
        let client_wants_usage = client_wants_usage(&body);
        Ok(Outbound {
            path: chat_path(model, stream),
            body: chat_request(&Value::Object(body))?,
            client_wants_usage,
        })
    }

    fn chat_response(&self, body: &[u8], provider: &str, model: &str) -> Option<Rewritten> {
        let gemini: Value = serde_json::from_slice(body).ok()?;
        let openai = chat_response(&gemini, &format!("{provider}/{model}"), unix_now()).ok()?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn stream(
        &self,
        provider: &str,
        model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        let mut state = StreamState::new(&format!("{provider}/{model}"), unix_now());
        ReshapedStream::boxed(provider, client_wants_usage, move |event| {
            state.chunks(event)
        })
    }

    fn embeddings_request(
        &self,
        body: Map<String, Value>,
        model: &str,
    ) -> Result<Outbound, String> {
        let (path, body) = embeddings_request(&Value::Object(body), model)?;
        Ok(Outbound {
            path,
            body,
            client_wants_usage: false,
        })
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        provider: &str,
        model: &str,
        encoding: EmbeddingEncoding,
    ) -> Option<Rewritten> {
        let gemini: Value = serde_json::from_slice(body).ok()?;
        let mut openai = embeddings_response(&gemini, &format!("{provider}/{model}")).ok()?;
        // Gemini only sends floats: the proxy encodes what the client asked.
        encoding.apply(&mut openai)?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn models_path(&self) -> &'static str {
        // The largest page Google allows; the default (50) drops models.
        "/models?pageSize=1000"
    }

    fn classify_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Verdict {
        let text = String::from_utf8_lossy(body);
        if INVALID_KEY_MARKERS.iter().any(|m| text.contains(m)) {
            // Google answers a bad or expired key with 400 INVALID_ARGUMENT.
            return Verdict::Failed(Failure::of(FailureKind::KeyRejected));
        }
        classify_status(status, body, || self.retry_hint(headers, body, now))
    }

    /// The generic hints and `RetryInfo.retryDelay` in the error body.
    fn retry_hint(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Option<Duration> {
        hints::longest([
            hints::retry_hint(&HeaderView(headers), now),
            retry_delay(body),
        ])
    }

    fn client_error_body(&self, body: Bytes) -> Bytes {
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let error = value
            .get(0)
            .unwrap_or(&value)
            .get("error")
            .cloned()
            .unwrap_or(Value::Null);
        match error["message"].as_str() {
            Some(message) => openai_error_envelope(message, error["status"].as_str()),
            None => body,
        }
    }

    /// Gemini says "The input token count (1200000) exceeds the maximum
    /// number of tokens allowed (1048576)."
    fn is_context_length(&self, _status: StatusCode, body: &[u8]) -> bool {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value.get(0).unwrap_or(&value)["error"];
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("exceeds the maximum number of tokens"))
    }

    fn normalize_model<'a>(&self, model: &'a str) -> &'a str {
        model.strip_prefix("models/").unwrap_or(model)
    }

    fn check_model(&self, model: &str) -> Result<(), String> {
        check_model_segment(model)
    }

    fn count_tokens_request(
        &self,
        body: &Map<String, Value>,
        model: &str,
    ) -> Option<Result<Outbound, String>> {
        Some(
            count_tokens_request(&Value::Object(body.clone()), model).map(|(path, body)| {
                Outbound {
                    path,
                    body,
                    client_wants_usage: false,
                }
            }),
        )
    }

    fn count_tokens_response(&self, body: &[u8]) -> Option<u64> {
        count_tokens_response(&serde_json::from_slice::<Value>(body).ok()?)
    }

    fn model_ids(&self, body: &[u8]) -> Option<Vec<String>> {
        let gemini: Value = serde_json::from_slice(body).ok()?;
        gemini.get("models")?;
        Some(model_ids(&gemini))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/gemini/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn classify(code: u16, body: &[u8]) -> Verdict {
        GeminiFormat.classify_error(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            body,
            now(),
        )
    }

    #[test]
    fn error_fixtures_are_classified() {
        let exhausted = classify(429, &fixture("error_resource_exhausted.json"));
        let Verdict::Failed(Failure { kind, hint }) = exhausted else {
            panic!("{exhausted:?}")
        };
        assert!(
            matches!(kind, FailureKind::Quota | FailureKind::RateLimited),
            "{kind:?}"
        );
        assert_eq!(
            hint.map(|h| h.as_millis()),
            Some(37_482),
            "RetryInfo gives the hint"
        );
        assert_eq!(
            classify(400, &fixture("error_invalid_argument.json")),
            Verdict::Failed(Failure::of(FailureKind::KeyRejected))
        );
        let denied =
            br#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            classify(403, denied),
            Verdict::Failed(Failure {
                kind: FailureKind::KeyRejected,
                ..
            })
        ));
        let bad = br#"[{"error":{"code":400,"message":"Invalid value at 'contents[0]'","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(classify(400, bad), Verdict::ClientError);
        let retry_header = {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_static("retry-after"),
                HeaderValue::from_static("7"),
            );
            h
        };
        let limited =
            GeminiFormat.classify_error(StatusCode::TOO_MANY_REQUESTS, &retry_header, b"{}", now());
        assert_eq!(
            limited,
            Verdict::Failed(Failure {
                kind: FailureKind::RateLimited,
                hint: Some(std::time::Duration::from_secs(7))
            })
        );
    }

    #[test]
    fn refusals_are_rewrapped_for_openai_clients() {
        let body =
            GeminiFormat.client_error_body(Bytes::from(fixture("error_invalid_argument.json")));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["error"]["message"],
            "API key not valid. Please pass a valid API key."
        );
        assert_eq!(v["error"]["code"], "INVALID_ARGUMENT");
        assert_eq!(
            GeminiFormat.normalize_model("models/gemini-2.5-pro"),
            "gemini-2.5-pro"
        );
    }
}
