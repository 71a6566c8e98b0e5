//! [`AnthropicMessages`]: how the proxy serves `POST /v1/messages` — the
//! request translated to OpenAI chat, the answer, each stream chunk and
//! every error translated back.

use actix_web::body::BoxBody;
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::{error_body, messages_response, openai_request_from_messages, ToAnthropicStream};
use crate::error::ApiError;
use crate::inbound::shape::stream_flag;
use crate::inbound::{ChatOptions, InboundApi, ParseEnv, Served, StreamFrames};
use crate::sse::named_frames;

/// Anthropic's Messages API.
pub struct AnthropicMessages;

impl InboundApi for AnthropicMessages {
    /// Anthropic clients send the key in `x-api-key`.
    const KEY_HEADERS: &'static [&'static str] = &["x-api-key"];

    type Context = ();

    fn parse(
        body: Map<String, Value>,
        env: &ParseEnv<'_>,
    ) -> Result<(Map<String, Value>, ()), ApiError> {
        let openai =
            openai_request_from_messages(&Value::Object(body)).map_err(ApiError::invalid)?;
        let openai = openai.as_object().cloned().unwrap_or_default();
        require_provider_prefix(&openai, env.served)?;
        Ok((openai, ()))
    }

    fn options(body: &Map<String, Value>) -> Result<ChatOptions, ApiError> {
        Ok(ChatOptions {
            stream: stream_flag(body)?,
            // The usage chunk carries the counts `message_delta` reports.
            wants_usage: true,
        })
    }

    fn json(_status: StatusCode, body: Vec<u8>, _: ()) -> Result<HttpResponse, ApiError> {
        let openai: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = messages_response(&openai).map_err(|e| {
            ApiError::BadUpstreamAnswer(format!(
                "the provider answered, but its answer could not be translated to Anthropic's \
                 format: {e}"
            ))
        })?;
        Ok(HttpResponse::Ok().json(message))
    }

    /// The events name the model as the client asked for it.
    fn stream(provider: &str, model: &str, _: ()) -> Box<dyn StreamFrames> {
        Box::new(Events(ToAnthropicStream::new(&format!(
            "{provider}/{model}"
        ))))
    }

    /// Anthropic's envelope for the proxy's own errors, with the same
    /// status (and `Retry-After`) the OpenAI routes use.
    fn error(error: &ApiError) -> HttpResponse {
        let rendered = error.error_response();
        let status = rendered.status();
        let body = error_body(status.as_u16(), &error.to_string()).to_string();
        rendered.set_body(BoxBody::new(body))
    }

    /// The same status, the provider's message, Anthropic's envelope.
    fn refusal(status: StatusCode, _content_type: HeaderValue, body: Bytes) -> HttpResponse {
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = parsed["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        HttpResponse::build(status).json(error_body(status.as_u16(), &message))
    }
}

/// A model without a `provider/` prefix that is no route is refused here
/// with a hint for Claude Code, whose default models (`claude-…`) are
/// bare: it must be told which `provider/model` (or route) to ask for.
pub fn require_provider_prefix(
    openai: &Map<String, Value>,
    served: &dyn Served,
) -> Result<(), ApiError> {
    let Some(model) = openai.get("model").and_then(Value::as_str) else {
        return Ok(());
    };
    let model = model.trim();
    if served.is_route(model)
        || model
            .split_once('/')
            .is_some_and(|(p, m)| !p.is_empty() && !m.is_empty())
    {
        return Ok(());
    }
    let providers = served.providers().join(", ");
    let providers = if providers.is_empty() {
        "none (add <PROVIDER>_API_KEY to .env)".to_string()
    } else {
        providers
    };
    let routes = served.routes().join(", ");
    let routes = if routes.is_empty() {
        String::new()
    } else {
        format!("; routes: {routes}")
    };
    // A Claude model is meant for the `anthropic` provider, under that name.
    let example = if model.starts_with("claude-") {
        format!("anthropic/{model}")
    } else {
        "anthropic/claude-sonnet-4-5".to_string()
    };
    Err(ApiError::invalid_param(
        format!(
            "model \"{model}\" has no provider prefix: models are \"<provider>/<model>\", e.g. \
             \"{example}\", or a route (configured providers: {providers}{routes}). For \
             Claude Code, set ANTHROPIC_MODEL and ANTHROPIC_DEFAULT_HAIKU_MODEL (or its older \
             name ANTHROPIC_SMALL_FAST_MODEL) to such names"
        ),
        "model",
    ))
}

/// One stream's Anthropic events, framed `event: …\ndata: …\n\n`.
struct Events(ToAnthropicStream);

impl StreamFrames for Events {
    fn chunk(&mut self, data: &str) -> Bytes {
        match serde_json::from_str::<Value>(data) {
            Ok(chunk) => named_frames(self.0.events(&chunk)),
            Err(_) => Bytes::new(),
        }
    }

    /// The converter turns an `{"error":…}` chunk into an `error` event and
    /// ends the stream.
    fn error(&mut self, data: &str) -> Bytes {
        self.chunk(data)
    }

    fn end(&mut self) -> Bytes {
        named_frames(self.0.finish())
    }
}
