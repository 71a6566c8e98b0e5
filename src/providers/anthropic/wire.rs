//! Anthropic as a [`WireFormat`]: the key in `x-api-key` with
//! `anthropic-version`, the Messages API behind the trait, streams
//! re-shaped into OpenAI chunks and then handled like any OpenAI stream.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{
    chat_response, count_tokens_request, count_tokens_response, messages_request, model_ids,
    ToOpenAiStream, API_VERSION, COUNT_TOKENS_PATH, MESSAGES_PATH, MODELS_PATH,
};
use crate::providers::openai::{rewrite_response, translate_event, StreamItem};
use crate::providers::{Outbound, Rewritten, StreamTranslator, WireFormat};
use crate::worker::Auth;

/// Anthropic's Messages API, natively.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnthropicFormat;

/// One Anthropic stream: each event becomes OpenAI chunks.
struct AnthropicStream {
    state: ToOpenAiStream,
    provider: String,
    client_wants_usage: bool,
}

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
        let client_wants_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        body.insert("model".into(), Value::String(model.to_string()));
        Ok(Outbound {
            path: MESSAGES_PATH.to_string(),
            body: messages_request(&Value::Object(body))?,
            client_wants_usage,
        })
    }

    fn chat_response(&self, body: &[u8], provider: &str, _model: &str) -> Option<Rewritten> {
        let anthropic: Value = serde_json::from_slice(body).ok()?;
        let openai = chat_response(&anthropic, now()).ok()?;
        rewrite_response(&serde_json::to_vec(&openai).ok()?, provider)
    }

    fn stream(
        &self,
        provider: &str,
        _model: &str,
        client_wants_usage: bool,
    ) -> Box<dyn StreamTranslator> {
        Box::new(AnthropicStream {
            state: ToOpenAiStream::new(now()),
            provider: provider.to_string(),
            client_wants_usage,
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
    ) -> Option<Rewritten> {
        None
    }

    fn models_path(&self) -> &'static str {
        MODELS_PATH
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
}

impl StreamTranslator for AnthropicStream {
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
