//! Serving the proxied calls: any client-facing chat API through one
//! generic handler ([`serve`]), and the OpenAI-only completions and
//! embeddings routes ([`proxy_call`]). Both forward through the rotation
//! loop and render its [`Answer`] in the client's API.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;

use super::body::{parse_json_object, read_body, resolve_model, resolve_target};
use super::responses_native;
use super::rotation::{forward, Answer, Forward, Operation};
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::shape::{check_texts, stream_flag};
use crate::inbound::{InboundApi, OpenAiChat, ParseEnv};
use crate::providers::{openai, EmbeddingEncoding, Format};
use crate::reqlog::LogHandle;
use crate::worker::UpstreamWorker;

type Worker = web::Data<actix::Addr<UpstreamWorker>>;

/// A chat request in the client's API `A`: parsed into OpenAI chat,
/// rotated through the keys, and the answer rendered by `A`; errors in
/// `A`'s envelope.
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
    worker: &actix::Addr<UpstreamWorker>,
) -> Result<HttpResponse, ApiError> {
    let config = shared.config();
    let limit = config.settings.server.max_body_size;
    let raw = read_body(req.headers(), payload, limit).await?;
    if A::OPENAI_BODY {
        if let Some(request) = plain_openai(shared, &config, req, &raw, Operation::Chat) {
            let answer = forward(shared, worker, req, &request).await?;
            return render::<A>(answer, &request, A::Context::default());
        }
    }
    let body = parse_json_object(&raw)?;
    let log = super::start_log(shared, req, &body);
    let names = || provider_names(&config);
    let env = ParseEnv {
        providers: &names,
        responses: shared.responses.as_ref(),
        now: shared.clock.now(),
    };
    if A::RESPONSES {
        if let Some(native) = responses_native::request(&config, &raw, &body, &env, log.clone()) {
            let request = native.map_err(|e| refused_early(log.as_ref(), e))?;
            let answer = forward(shared, worker, req, &request).await?;
            return Ok(responses_native::render::<A>(answer));
        }
    }
    let prepared = async {
        let (body, context) = A::parse(body, &env)?;
        let target = resolve_target(&config, &body)?;
        let chat = A::options(&body)?;
        let wire = target.provider.format.wire();
        let outbound = wire
            .chat_request(body, &target.model, chat.stream)
            .map_err(ApiError::invalid)?;
        let request = Forward {
            config: &config,
            operation: Operation::Chat,
            path: outbound.path,
            body: encode(&outbound.body)?,
            stream: chat.stream,
            client_wants_usage: chat.wants_usage,
            target,
            log: log.clone(),
        };
        Ok::<_, ApiError>((request, context))
    }
    .await;
    match prepared {
        Ok((request, context)) => {
            let answer = forward(shared, worker, req, &request).await?;
            render::<A>(answer, &request, context)
        }
        Err(e) => Err(refused_early(log.as_ref(), e)),
    }
}

/// `answer` to `request` in the client's API, with the headers the API
/// adds from the request's context.
fn render<A: InboundApi>(
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
        } => Ok(A::refusal(status, content_type, body)),
    }
}

/// The configured providers' names, for messages that list them.
pub fn provider_names(config: &Config) -> Vec<String> {
    config.providers.iter().map(|p| p.name.clone()).collect()
}

/// Refused before any provider was asked: logged with its status.
fn refused_early(log: Option<&LogHandle>, e: ApiError) -> ApiError {
    if let Some(log) = log {
        log.finish(actix_web::ResponseError::status_code(&e).as_u16());
    }
    e
}

/// A request body as JSON bytes for the provider.
pub fn encode(body: &serde_json::Value) -> Result<Bytes, ApiError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| ApiError::invalid(format!("cannot encode the request: {e}")))
}

/// What the OpenAI-only routes serve ([`proxy_call`]); the chat APIs,
/// Responses included, are served by [`serve`].
#[derive(Clone, Copy, Debug)]
pub enum OpenAiOnly {
    /// Legacy text completions (`POST /v1/completions`).
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
}

/// The OpenAI-only routes: legacy text completions and embeddings, answered
/// in OpenAI's shapes.
pub async fn proxy_call(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
    call: OpenAiOnly,
) -> Result<HttpResponse, ApiError> {
    let config = shared.config();
    let limit = config.settings.server.max_body_size;
    let raw = read_body(req.headers(), payload, limit).await?;
    let plain = match call {
        OpenAiOnly::Completions => Operation::Completions,
        // Unparsed, `encoding_format` goes upstream as sent.
        OpenAiOnly::Embeddings => Operation::Embeddings(EmbeddingEncoding::Float),
    };
    if let Some(request) = plain_openai(&shared, &config, &req, &raw, plain) {
        let answer = forward(&shared, &worker, &req, &request).await?;
        return render::<OpenAiChat>(answer, &request, ());
    }
    let body = parse_json_object(&raw)?;
    let log = super::start_log(&shared, &req, &body);
    let prepared = async {
        let target = resolve_target(&config, &body)?;
        let wire = target.provider.format.wire();
        let (operation, stream, outbound) = match call {
            OpenAiOnly::Embeddings => {
                let encoding = EmbeddingEncoding::of(&body)
                    .map_err(|e| ApiError::invalid_param(e, "encoding_format"))?;
                check_texts(&body, "input")?;
                let outbound = wire.embeddings_request(body, &target.model);
                (Operation::Embeddings(encoding), false, outbound)
            }
            OpenAiOnly::Completions => {
                let stream = stream_flag(&body)?;
                check_texts(&body, "prompt")?;
                let outbound = wire.completions_request(body, &target.model, stream);
                (Operation::Completions, stream, outbound)
            }
        };
        let outbound = outbound.map_err(ApiError::invalid)?;
        Ok::<_, ApiError>(Forward {
            config: &config,
            operation,
            path: outbound.path,
            body: encode(&outbound.body)?,
            stream,
            client_wants_usage: outbound.client_wants_usage,
            target,
            log: log.clone(),
        })
    }
    .await;
    match prepared {
        Ok(request) => {
            let answer = forward(&shared, &worker, &req, &request).await?;
            render::<OpenAiChat>(answer, &request, ())
        }
        Err(e) => Err(refused_early(log.as_ref(), e)),
    }
}

/// The common case without parsing the body: a non-streaming request to an
/// OpenAI-compatible provider whose body is plain (see
/// [`openai::plain_request`]) goes upstream as sent, with only `model`
/// replaced. `None` for anything else, which then takes the general path
/// (and gets its errors there).
fn plain_openai<'a>(
    shared: &Shared,
    config: &'a Config,
    req: &HttpRequest,
    raw: &[u8],
    operation: Operation,
) -> Option<Forward<'a>> {
    let plain = openai::plain_request(raw)?;
    let model = std::str::from_utf8(&raw[plain.model.clone()]).ok()?;
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
    let body = openai::with_model(raw, &plain, &target.model)?;
    let log = match shared.logger {
        Some(_) => super::start_log(shared, req, &parse_json_object(raw).ok()?),
        None => None,
    };
    Some(Forward {
        config,
        operation,
        target,
        path: path.to_string(),
        body: Bytes::from(body),
        stream: false,
        client_wants_usage: false,
        log,
    })
}
