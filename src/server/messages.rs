//! The Anthropic-compatible endpoint: `POST /v1/messages` and
//! `POST /v1/messages/count_tokens` for Anthropic-API clients (Claude Code,
//! the `anthropic` SDK), for a model of any provider.
//!
//! A request is translated into OpenAI chat, rotated through the keys like
//! any chat request, and the answer translated back: JSON, or the event
//! stream `message_start` → `content_block_*` → `message_delta` →
//! `message_stop`. Failures use Anthropic's error envelope and a non-200
//! status — never a 200 with empty content.

use std::convert::Infallible;
use std::pin::Pin;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::body::{read_json_object, resolve_target, stream_flag};
use super::count::count;
use super::relay::{forward, Forward, Operation};
use super::stream::KEEPALIVE_FRAME;
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::providers::anthropic::{
    error_body, messages_response, openai_request_from_messages, ToAnthropicStream,
};
use crate::sse::SseParser;
use crate::worker::UpstreamWorker;

type Worker = web::Data<actix::Addr<UpstreamWorker>>;

pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> HttpResponse {
    match respond(&req, payload, &shared, &worker).await {
        Ok(response) => response,
        Err(e) => anthropic_error(&e),
    }
}

pub async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> HttpResponse {
    let counted = async {
        let limit = shared.config().settings.server.max_body_size;
        let body = read_json_object(req.headers(), payload, limit).await?;
        let openai =
            openai_request_from_messages(&Value::Object(body)).map_err(ApiError::invalid)?;
        let openai = openai.as_object().cloned().unwrap_or_default();
        require_provider_prefix(&shared.config(), &openai)?;
        count(&shared, &worker, &openai).await
    };
    match counted.await {
        Ok((tokens, _)) => HttpResponse::Ok().json(json!({"input_tokens": tokens})),
        Err(e) => anthropic_error(&e),
    }
}

async fn respond(
    req: &HttpRequest,
    payload: web::Payload,
    shared: &Shared,
    worker: &actix::Addr<UpstreamWorker>,
) -> Result<HttpResponse, ApiError> {
    let config = shared.config();
    let limit = config.settings.server.max_body_size;
    let body = read_json_object(req.headers(), payload, limit).await?;
    let log = super::start_log(shared, req, &body);
    let finish_on_error = |e: ApiError| {
        // Refused before any provider was asked: logged with its status.
        if let Some(log) = &log {
            log.finish(e.status_code().as_u16());
        }
        e
    };
    let openai = openai_request_from_messages(&Value::Object(body))
        .map_err(ApiError::invalid)
        .map_err(finish_on_error)?;
    let openai = openai.as_object().cloned().unwrap_or_default();
    require_provider_prefix(&config, &openai).map_err(finish_on_error)?;
    let target = resolve_target(&config, &openai).map_err(finish_on_error)?;
    let model = format!("{}/{}", target.provider.name, target.model);
    let stream = stream_flag(&openai).map_err(finish_on_error)?;
    let wire = target.provider.format.wire();
    let outbound = wire
        .chat_request(openai, &target.model, stream)
        .map_err(ApiError::invalid)
        .map_err(finish_on_error)?;
    let request = Forward {
        config: &config,
        operation: Operation::Chat,
        path: outbound.path,
        body: serde_json::to_vec(&outbound.body)
            .map(Bytes::from)
            .map_err(|e| ApiError::invalid(format!("cannot encode the request: {e}")))?,
        stream,
        client_wants_usage: true,
        target,
        log,
    };
    let response = forward(shared, worker, req, request).await?;
    let status = response.status();
    if !status.is_success() {
        return Ok(upstream_refusal(response).await);
    }
    if stream {
        return Ok(event_stream(response, &model));
    }
    let body = to_bytes(response.into_body()).await.unwrap_or_default();
    let openai: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let message = messages_response(&openai).map_err(|e| {
        ApiError::BadUpstreamAnswer(format!(
            "the provider answered, but its answer could not be translated to Anthropic's format: \
             {e}"
        ))
    })?;
    Ok(HttpResponse::Ok().json(message))
}

/// A model without a `provider/` prefix is refused here with a hint for
/// Claude Code, whose default models (`claude-…`) are bare: it must be
/// told which `provider/model` to ask for.
fn require_provider_prefix(config: &Config, openai: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(model) = openai.get("model").and_then(Value::as_str) else {
        return Ok(());
    };
    let model = model.trim();
    if model
        .split_once('/')
        .is_some_and(|(p, m)| !p.is_empty() && !m.is_empty())
    {
        return Ok(());
    }
    let providers = config
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let providers = if providers.is_empty() {
        "none (add <PROVIDER>_API_KEY to .env)".to_string()
    } else {
        providers
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
             \"{example}\" (configured providers: {providers}). For Claude \
             Code, set ANTHROPIC_MODEL and ANTHROPIC_DEFAULT_HAIKU_MODEL (or its older name \
             ANTHROPIC_SMALL_FAST_MODEL) to such names"
        ),
        "model",
    ))
}

/// The provider refused the request itself (its 4xx): the same status, its
/// message, Anthropic's envelope.
async fn upstream_refusal(response: HttpResponse) -> HttpResponse {
    let status = response.status();
    let body = to_bytes(response.into_body()).await.unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let message = parsed["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    HttpResponse::build(status).json(error_body(status.as_u16(), &message))
}

/// Anthropic's envelope for the proxy's own errors, with the same status
/// (and `Retry-After`) the OpenAI routes use.
pub fn anthropic_error(error: &ApiError) -> HttpResponse {
    let rendered = error.error_response();
    let status = rendered.status();
    let body = error_body(status.as_u16(), &error.to_string()).to_string();
    rendered.set_body(BoxBody::new(body))
}

/// Re-frames the relayed OpenAI stream as Anthropic events.
fn event_stream(response: HttpResponse, model: &str) -> HttpResponse {
    let state = Reframe {
        body: response.into_body(),
        parser: SseParser::default(),
        converter: ToAnthropicStream::new(model),
        ended: false,
    };
    let frames = futures_util::stream::unfold(state, |mut state| async move {
        let frame = state.next().await?;
        Some((Ok::<_, Infallible>(frame), state))
    });
    HttpResponse::build(StatusCode::OK)
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header(("cache-control", "no-cache"))
        .streaming(frames)
}

struct Reframe {
    body: BoxBody,
    parser: SseParser,
    converter: ToAnthropicStream,
    ended: bool,
}

impl Reframe {
    /// The next bytes for the client: translated events, or a keepalive.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            let mut out = String::new();
            while let Some(event) = self.parser.next_event() {
                let events = if event.data.trim() == "[DONE]" {
                    self.ended = true;
                    self.converter.finish()
                } else {
                    match serde_json::from_str::<Value>(&event.data) {
                        Ok(chunk) => self.converter.events(&chunk),
                        Err(_) => Vec::new(),
                    }
                };
                for (name, data) in events {
                    out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
                }
            }
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
            match futures_util::future::poll_fn(|cx| Pin::new(&mut self.body).poll_next(cx)).await {
                Some(Ok(chunk)) if chunk.as_ref() == KEEPALIVE_FRAME => return Some(chunk),
                Some(Ok(chunk)) => {
                    if self.parser.push(&chunk).is_err() {
                        self.ended = true;
                    }
                }
                Some(Err(_)) | None => {
                    self.ended = true;
                    let closing: String = self
                        .converter
                        .finish()
                        .into_iter()
                        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
                        .collect();
                    return (!closing.is_empty()).then(|| Bytes::from(closing));
                }
            }
        }
    }
}
