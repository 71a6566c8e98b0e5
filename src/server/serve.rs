//! Serving the proxied calls: any client-facing chat API through one
//! generic handler ([`serve`]), plus what the OpenAI-only completions and
//! embeddings routes (`openai_only.rs`) share with it: the unparsed fast
//! path ([`plain_openai`]), sticky conversations and rendering. Every call
//! walks the request's targets (one model, or a route's chain; see
//! [`super::fallback`]) and renders the [`Answer`] in the client's API.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;

use serde_json::{Map, Value};

use super::body::{parse_json_object, read_body, requested_model, resolve_model, Target};
use super::fallback::{Answered, Plan, Walk};
use super::per_target::{chat_forward, BodyPerTarget};
use super::rotation::{Answer, Forward, Operation};
use super::stored_responses::StoredResponses;
use super::{responses_native, sticky, Shared};
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::{ChatOptions, InboundApi, ParseEnv, Served};
use crate::providers::{openai, Format};
use crate::reqlog::LogHandle;
use crate::worker::UpstreamWorker;

type Worker = web::Data<UpstreamWorker>;

/// A chat request in the client's API `A`: parsed into OpenAI chat,
/// walked through its targets' keys, and the answer rendered by `A`;
/// errors in `A`'s envelope.
pub async fn serve<A: InboundApi>(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> HttpResponse {
    match chat::<A>(&req, payload, &shared, &worker).await {
        Ok(response) => response,
        Err(e) => A::error(&e),
    }
}

async fn chat<A: InboundApi>(
    req: &HttpRequest,
    payload: web::Payload,
    shared: &Shared,
    worker: &UpstreamWorker,
) -> Result<HttpResponse, ApiError> {
    let config = shared.config();
    let limit = config.settings.server.max_body_size;
    let raw = read_body(req.headers(), payload, limit).await?;
    if A::OPENAI_BODY {
        if let Some(plain) = plain_openai(shared, &config, req, &raw, Operation::Chat) {
            let answered = plain.walk(shared, worker, req, &config, &raw).await?;
            return render::<A>(answered.answer, &answered.request, A::Context::default());
        }
    }
    let body = parse_json_object(&raw)?;
    let walk = Walk {
        shared,
        worker,
        req,
        log: super::start_log(shared, req, &body),
        conversation: conversation(&config, req, &body, Operation::Chat),
    };
    let now = shared.clock.now();
    let continued = match (A::RESPONSES, &shared.responses) {
        (true, Some(stored)) => match previous_response_id(&body) {
            Some(id) => Some(stored.chain(id, now).await),
            None => None,
        },
        _ => None,
    };
    let env = ParseEnv {
        served: &*config,
        keep: shared.responses.as_ref().map(StoredResponses::sink),
        continued: continued.as_ref(),
        now,
    };
    if A::RESPONSES {
        let plan = requested_model(&body)
            .ok()
            .and_then(|model| Plan::of(&config, model).ok());
        if let Some(plan) = plan.filter(|p| p.all().any(responses_native::serves)) {
            return responses_native::serve::<A>(&walk, &config, &plan, &raw, body, &env).await;
        }
    }
    // The bytes are parsed: freed before the upstream call, so that a large
    // body is held once (translated), not twice.
    drop(raw);
    let log = walk.log.clone();
    let prepared = (|| {
        let (body, context) = A::parse(body, &env)?;
        let plan = Plan::of_body(&config, &body)?;
        let options = A::options(&body)?;
        Ok::<_, ApiError>((body, context, plan, options))
    })();
    let (body, mut context, plan, options) =
        prepared.map_err(|e| refused_early(log.as_ref(), e))?;
    let answered = walk
        .run(
            &config,
            &plan,
            translated(&config, &plan, body, options, &log),
        )
        .await?;
    A::answered_by(&mut context, &answered.request.target.label());
    render::<A>(answered.answer, &answered.request, context)
}

/// Prepares a chat request for each target: `body` (OpenAI chat) in the
/// target's wire format. The body is copied only when there may be more
/// than one target.
fn translated<'c>(
    config: &'c Config,
    plan: &Plan<'c>,
    body: Map<String, Value>,
    options: ChatOptions,
    log: &Option<LogHandle>,
) -> impl FnMut(Target<'c>) -> Result<(Forward<'c>, ()), ApiError> {
    let mut body = BodyPerTarget::new(plan, body);
    let log = log.clone();
    move |target| {
        Ok((
            chat_forward(config, target, body.next(), options, &log)?,
            (),
        ))
    }
}

/// The conversation a chat request belongs to, with sticky sessions on.
pub(super) fn conversation(
    config: &Config,
    req: &HttpRequest,
    body: &Map<String, Value>,
    operation: Operation,
) -> Option<u64> {
    let chat = matches!(operation, Operation::Chat | Operation::Responses);
    if !chat || !config.settings.routing.sticky_sessions {
        return None;
    }
    sticky::conversation(req, body)
}

/// The stored response a Responses request continues.
fn previous_response_id(body: &Map<String, Value>) -> Option<&str> {
    body.get("previous_response_id")?.as_str()
}

/// `answer` to `request` in the client's API, with the headers the API
/// adds from the request's context.
pub(super) fn render<A: InboundApi>(
    answer: Answer,
    request: &Forward,
    context: A::Context,
) -> Result<HttpResponse, ApiError> {
    let headers = A::headers(&context);
    let mut response = respond::<A>(answer, request, context)?;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

fn respond<A: InboundApi>(
    answer: Answer,
    request: &Forward,
    context: A::Context,
) -> Result<HttpResponse, ApiError> {
    match answer {
        Answer::Json { status, body } => A::json(status, body, context),
        Answer::Stream(relay) => {
            let target = &request.target;
            let frames = A::stream(&target.provider.name, &target.model, context);
            Ok(relay.respond(frames))
        }
        Answer::Refusal {
            status,
            content_type,
            body,
            ..
        } => Ok(A::refusal(status, content_type, body)),
    }
}

impl Served for Config {
    fn providers(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    fn routes(&self) -> Vec<String> {
        self.routes.names().map(str::to_string).collect()
    }

    fn is_route(&self, model: &str) -> bool {
        self.routes.get(model).is_some()
    }
}

/// Refused before any provider was asked: logged with its status.
pub(super) fn refused_early(log: Option<&LogHandle>, e: ApiError) -> ApiError {
    if let Some(log) = log {
        log.finish(actix_web::ResponseError::status_code(&e).as_u16());
    }
    e
}

/// A request that may go upstream as sent (see [`plain_openai`]).
pub(super) struct Plain<'c> {
    target: Target<'c>,
    operation: Operation,
    path: &'static str,
    request: openai::PlainRequest,
    log: Option<LogHandle>,
    conversation: Option<u64>,
}

/// The common case without parsing the body: a non-streaming request for
/// a model (not a route) of an OpenAI-compatible provider whose body is
/// plain (see [`openai::plain_request`]) goes upstream as sent, with only
/// `model` replaced. `None` for anything else, which then takes the
/// general path (and gets its errors there).
pub(super) fn plain_openai<'a>(
    shared: &Shared,
    config: &'a Config,
    req: &HttpRequest,
    raw: &[u8],
    operation: Operation,
) -> Option<Plain<'a>> {
    let plain = openai::plain_request(raw)?;
    let model = std::str::from_utf8(&raw[plain.model.clone()]).ok()?;
    if config.routes.get(model).is_some() {
        return None;
    }
    let target = resolve_model(config, model).ok()?;
    if target.provider.format != Format::OpenAi {
        return None;
    }
    let path = match operation {
        Operation::Chat if plain.stream? || !plain.messages => return None,
        Operation::Completions if plain.stream? || !plain.prompt => return None,
        Operation::Embeddings(_) if !plain.input => return None,
        // Passed through by `responses_native`, never here.
        Operation::Responses => return None,
        Operation::Chat => openai::CHAT_PATH,
        Operation::Completions => openai::COMPLETIONS_PATH,
        // `encoding_format` goes upstream as sent.
        Operation::Embeddings(_) => openai::EMBEDDINGS_PATH,
    };
    // Only a request that is logged or pinned needs its body parsed.
    let sticky = config.settings.routing.sticky_sessions && operation == Operation::Chat;
    let parsed = match shared.logger.is_some() || sticky {
        true => Some(parse_json_object(raw).ok()?),
        false => None,
    };
    let log = parsed
        .as_ref()
        .and_then(|body| super::start_log(shared, req, body));
    let conversation = parsed
        .as_ref()
        .and_then(|body| conversation(config, req, body, operation));
    Some(Plain {
        target,
        operation,
        path,
        request: plain,
        log,
        conversation,
    })
}

// === impl Plain ===

impl<'c> Plain<'c> {
    pub(super) async fn walk(
        self,
        shared: &Shared,
        worker: &UpstreamWorker,
        req: &HttpRequest,
        config: &'c Config,
        raw: &[u8],
    ) -> Result<Answered<'c, ()>, ApiError> {
        let Plain {
            target,
            operation,
            path,
            request,
            log,
            conversation,
        } = self;
        let walk = Walk {
            shared,
            worker,
            req,
            log: log.clone(),
            conversation,
        };
        let plan = Plan::single(target);
        let prepare = |target: Target<'c>| {
            let body = openai::with_model(raw, &request, &target.model)
                .ok_or_else(|| ApiError::invalid("cannot replace `model` in the request"))?;
            let forward = Forward {
                config,
                operation,
                target,
                path: path.to_string(),
                body: Bytes::from(body),
                stream: false,
                client_wants_usage: false,
                log: log.clone(),
            };
            Ok((forward, ()))
        };
        walk.run(config, &plan, prepare).await
    }
}
