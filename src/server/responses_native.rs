//! `POST /v1/responses` for a provider that serves the Responses API
//! natively (the `openai` preset, or `<P>_RESPONSES=native`): the body goes
//! to its `/responses` as the client sent it, with only `model` replaced,
//! through the same rotation loop as chat; the answer comes back as the
//! provider sent it, `model` prefixed. Nothing is translated, so nothing is
//! lost: built-in tools, `store` and `previous_response_id` are the
//! provider's business — except a `previous_response_id` this proxy kept
//! (the conversation began on a translated provider), which the provider
//! cannot know: that conversation is put before the input instead.

use actix_web::HttpResponse;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::body::resolve_model;
use super::rotation::{Answer, Forward, Operation};
use super::serve::encode;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::responses::{check_input, input_items, prior_items, PassThrough};
use crate::inbound::shape::stream_flag;
use crate::inbound::{InboundApi, ParseEnv};
use crate::providers::openai::responses::RESPONSES_PATH;
use crate::providers::{openai, Format};
use crate::reqlog::LogHandle;

/// The native request for `body` (`raw` as the client sent it), or `None`
/// when its model's provider is not native (or the model does not resolve:
/// the translated path says why).
pub fn request<'a>(
    config: &'a Config,
    raw: &[u8],
    body: &Map<String, Value>,
    env: &ParseEnv<'_>,
    log: Option<LogHandle>,
) -> Option<Result<Forward<'a>, ApiError>> {
    let model = body.get("model")?.as_str()?;
    let target = resolve_model(config, model).ok()?;
    if !target.provider.responses_native || target.provider.format != Format::OpenAi {
        return None;
    }
    // What the provider would refuse anyway is refused without a call.
    let checked = check_input(body.get("input")).and_then(|()| stream_flag(body));
    let stream = match checked {
        Ok(stream) => stream,
        Err(e) => return Some(Err(e)),
    };
    let outbound = match continued_here(body, env) {
        Some(Ok(body)) => reencoded(&body, &target.model),
        Some(Err(e)) => Err(e),
        None => openai::plain_request(raw)
            .and_then(|plain| openai::with_model(raw, &plain, &target.model))
            .map(Bytes::from)
            .map_or_else(|| reencoded(body, &target.model), Ok),
    };
    Some(outbound.map(|outbound| Forward {
        config,
        operation: Operation::Responses,
        target,
        path: RESPONSES_PATH.to_string(),
        body: outbound,
        stream,
        client_wants_usage: false,
        log,
    }))
}

/// `body` with the conversation before it in `input`, when its
/// `previous_response_id` names a response this proxy kept; `None` for any
/// other body (the provider's own ids pass through).
fn continued_here(
    body: &Map<String, Value>,
    env: &ParseEnv<'_>,
) -> Option<Result<Map<String, Value>, ApiError>> {
    let id = body.get("previous_response_id")?.as_str()?;
    let store = env.responses?;
    store.get(id, env.now).ok()??;
    let mut items = match prior_items(Some(store), id, env.now) {
        Ok(items) => items,
        Err(e) => return Some(Err(e)),
    };
    match input_items(body.get("input")) {
        Ok(own) => items.extend(own),
        Err(e) => return Some(Err(ApiError::invalid_param(e, "input"))),
    }
    let mut body = body.clone();
    body.remove("previous_response_id");
    body.insert("input".into(), Value::Array(items));
    Some(Ok(body))
}

/// A body the byte-level replacement does not vouch for (escapes, repeated
/// names), re-encoded with `model` replaced.
fn reencoded(body: &Map<String, Value>, model: &str) -> Result<Bytes, ApiError> {
    let mut body = body.clone();
    body.insert("model".into(), Value::String(model.to_string()));
    encode(&Value::Object(body))
}

/// The provider's answer as it sent it (`model` prefixed already); its
/// refusal in `A`'s envelope, as for a translated request.
pub fn render<A: InboundApi>(answer: Answer) -> HttpResponse {
    match answer {
        Answer::Json { status, body } => HttpResponse::build(status)
            .content_type("application/json")
            .body(body),
        Answer::Stream(relay) => relay.respond(Box::new(PassThrough::default())),
        Answer::Refusal {
            status,
            content_type,
            body,
        } => A::refusal(status, content_type, body),
    }
}
