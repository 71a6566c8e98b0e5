//! Gemini as a [`WireFormat`]: the key in `x-goog-api-key`, the converters
//! of this module behind the trait, streams re-shaped into OpenAI chunks
//! and then handled like any OpenAI-compatible stream.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{
    chat_path, chat_request, chat_response, count_tokens_request, count_tokens_response,
    embeddings_request, embeddings_response, model_ids, StreamState,
};
use crate::providers::openai::{rewrite_response, translate_event, StreamItem};
use crate::providers::{Outbound, Rewritten, StreamTranslator, WireFormat};
use crate::worker::Auth;

/// Google's Generative Language API, natively.
#[derive(Clone, Copy, Debug, Default)]
pub struct GeminiFormat;

/// One Gemini stream: each event becomes OpenAI chunks.
struct GeminiStream {
    state: StreamState,
    provider: String,
    client_wants_usage: bool,
}

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
        let client_wants_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Outbound {
            path: chat_path(model, stream),
            body: chat_request(&Value::Object(body))?,
            client_wants_usage,
        })
    }

    fn chat_response(&self, body: &[u8], provider: &str, model: &str) -> Option<Rewritten> {
        let gemini: Value = serde_json::from_slice(body).ok()?;
        let openai = chat_response(&gemini, &format!("{provider}/{model}"), now()).ok()?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn stream(
        &self,
        provider: &str,
        model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        Box::new(GeminiStream {
            state: StreamState::new(&format!("{provider}/{model}"), now()),
            provider: provider.to_string(),
            client_wants_usage,
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

    fn embeddings_response(&self, body: &[u8], provider: &str, model: &str) -> Option<Rewritten> {
        let gemini: Value = serde_json::from_slice(body).ok()?;
        let openai = embeddings_response(&gemini, &format!("{provider}/{model}")).ok()?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn models_path(&self) -> &'static str {
        "/models"
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

impl StreamTranslator for GeminiStream {
    fn items(&mut self, data: &str) -> Vec<StreamItem> {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            let error = r#"{"error":{"message":"the provider sent an unreadable stream event","type":"upstream_error"}}"#;
            return vec![StreamItem::Error(error.to_string())];
        };
        self.state
            .chunks(&event)
            .iter()
            .map(|chunk| {
                translate_event(&chunk.to_string(), &self.provider, self.client_wants_usage)
            })
            .collect()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
