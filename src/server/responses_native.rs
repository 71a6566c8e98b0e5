//! `POST /v1/responses` for a provider that serves the Responses API
//! natively (the `openai` preset, or `<P>_RESPONSES=native`): the body goes
//! to its `/responses` as the client sent it, with only `model` replaced,
//! through the same rotation loop as chat; the answer comes back as the
//! provider sent it, `model` prefixed. Nothing is translated, so nothing is
//! lost: built-in tools, `store` and `previous_response_id` are the
//! provider's business — except a `previous_response_id` this proxy kept
//! (the conversation began on a translated provider), which the provider
//! cannot know: that conversation is put before the input instead. A route
//! may mix native targets with others, which get the request translated as
//! usual.

use actix_web::HttpResponse;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::body::Target;
use super::fallback::{Plan, Walk};
use super::per_target::{chat_forward, encode};
use super::rotation::{Answer, Forward, Operation};
use super::serve::refused_early;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::responses::{check_input, input_items, prior_items, PassThrough};
use crate::inbound::shape::stream_flag;
use crate::inbound::{ChatOptions, InboundApi, ParseEnv};
use crate::providers::openai::responses::RESPONSES_PATH;
use crate::providers::{openai, Format};
use crate::store::ChainError;

/// Whether `target` gets a Responses request as sent: its provider serves
/// the API natively.
pub fn serves(target: &Target<'_>) -> bool {
    target.provider.responses_native && target.provider.format == Format::OpenAi
}

/// How a target got the request.
enum Via {
    /// As sent, to the provider's `/responses`.
    Native,
    /// Translated to OpenAI chat, as for any provider.
    Translated,
}

/// `POST /v1/responses` for a request whose plan reaches a native target:
/// those get the body as sent, any other target (of a route) the request
/// translated, parsed only when one is reached.
pub async fn serve<'c, A: InboundApi>(
    walk: &Walk<'_>,
    config: &'c Config,
    plan: &Plan<'c>,
    raw: &[u8],
    body: Map<String, Value>,
    env: &ParseEnv<'_>,
) -> Result<HttpResponse, ApiError> {
    // What the provider would refuse anyway is refused without a call.
    let checked = check_input(body.get("input"))
        .and_then(|()| stream_flag(&body))
        .and_then(|stream| Ok((stream, continued_here(&body, env).transpose()?)));
    let (stream, continued) = checked.map_err(|e| refused_early(walk.log.as_ref(), e))?;
    let mut translated: Option<(Map<String, Value>, ChatOptions)> = None;
    let mut context: Option<A::Context> = None;
    let prepare = |target: Target<'c>| {
        if serves(&target) {
            let outbound = match &continued {
                Some(continued) => reencoded(continued, &target.model)?,
                None => openai::plain_request(raw)
                    .and_then(|plain| openai::with_model(raw, &plain, &target.model))
                    .map(Bytes::from)
                    .map_or_else(|| reencoded(&body, &target.model), Ok)?,
            };
            let request = Forward {
                config,
                operation: Operation::Responses,
                target,
                path: RESPONSES_PATH.to_string(),
                body: outbound,
                stream,
                client_wants_usage: false,
                log: walk.log.clone(),
            };
            return Ok((request, Via::Native));
        }
        if translated.is_none() {
            let (chat, parsed) = A::parse(body.clone(), env)?;
            translated = Some((chat.clone(), A::options(&chat)?));
            context = Some(parsed);
        }
        let Some((chat, options)) = &translated else {
            return Err(ApiError::invalid("the request could not be translated"));
        };
        let request = chat_forward(config, target, chat.clone(), *options, &walk.log)?;
        Ok((request, Via::Translated))
    };
    let answered = walk.run(config, plan, prepare).await?;
    match answered.via {
        Via::Native => Ok(render::<A>(answered.answer)),
        Via::Translated => {
            let mut context = context.unwrap_or_default();
            A::answered_by(&mut context, &answered.request.target.label());
            super::serve::render::<A>(answered.answer, &answered.request, context)
        }
    }
}

/// A body the byte-level replacement does not vouch for (escapes, repeated
/// names), re-encoded with `model` replaced.
fn reencoded(body: &Map<String, Value>, model: &str) -> Result<Bytes, ApiError> {
    let mut body = body.clone();
    body.insert("model".into(), Value::String(model.to_string()));
    encode(&Value::Object(body))
}

/// `body` with the conversation before it in `input`, when its
/// `previous_response_id` names a response this proxy kept; `None` for any
/// other body (the provider's own ids pass through).
fn continued_here(
    body: &Map<String, Value>,
    env: &ParseEnv<'_>,
) -> Option<Result<Map<String, Value>, ApiError>> {
    let id = body.get("previous_response_id")?.as_str()?;
    let chain = env.continued?;
    if let Err(ChainError::NotFound(_)) = chain {
        // Not one of this proxy's: the provider's own.
        return None;
    }
    let mut items = match prior_items(id, Some(chain)) {
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
            ..
        } => A::refusal(status, content_type, body),
    }
}
