//! The OpenAI-only routes: legacy text completions (`POST
//! /v1/completions`) and embeddings (`POST /v1/embeddings`), for a model or
//! a route, answered in OpenAI's shapes. They share the chat APIs' fast
//! path, target walk and rendering (`serve.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::body::{parse_json_object, read_body, Target};
use super::fallback::{Plan, Walk};
use super::per_target::{encode, BodyPerTarget};
use super::rotation::{Forward, Operation};
use super::serve::{conversation, plain_openai, refused_early, render};
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::inbound::shape::{check_texts, stream_flag};
use crate::inbound::OpenAiChat;
use crate::providers::EmbeddingEncoding;
use crate::reqlog::LogHandle;
use crate::worker::UpstreamWorker;

type Worker = web::Data<UpstreamWorker>;

/// What the OpenAI-only routes serve ([`proxy_call`]); the chat APIs,
/// Responses included, are served by [`super::serve::serve`].
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
    let unparsed = match call {
        OpenAiOnly::Completions => Operation::Completions,
        // Unparsed, `encoding_format` goes upstream as sent.
        OpenAiOnly::Embeddings => Operation::Embeddings(EmbeddingEncoding::Float),
    };
    if let Some(plain) = plain_openai(&shared, &config, &req, &raw, unparsed) {
        let answered = plain.walk(&shared, &worker, &req, &config, &raw).await?;
        return render::<OpenAiChat>(answered.answer, &answered.request, ());
    }
    let body = parse_json_object(&raw)?;
    let walk = Walk {
        shared: &shared,
        worker: &worker,
        req: &req,
        log: super::start_log(&shared, &req, &body),
        conversation: conversation(&config, &req, &body, unparsed),
    };
    let log = walk.log.clone();
    let prepared = (|| {
        let plan = Plan::of_body(&config, &body)?;
        let (operation, stream) = match call {
            OpenAiOnly::Embeddings => {
                let encoding = EmbeddingEncoding::of(&body)
                    .map_err(|e| ApiError::invalid_param(e, "encoding_format"))?;
                check_texts(&body, "input")?;
                (Operation::Embeddings(encoding), false)
            }
            OpenAiOnly::Completions => {
                let stream = stream_flag(&body)?;
                check_texts(&body, "prompt")?;
                (Operation::Completions, stream)
            }
        };
        Ok::<_, ApiError>((plan, stream, operation))
    })();
    let (plan, stream, operation) = prepared.map_err(|e| refused_early(log.as_ref(), e))?;
    let prepare = openai_only(&config, &plan, body, (call, operation), stream, &log);
    let answered = walk.run(&config, &plan, prepare).await?;
    render::<OpenAiChat>(answered.answer, &answered.request, ())
}

/// Prepares a completions or embeddings request for each target, like
/// [`super::serve`] does a chat request; `operation` is `call` with what the
/// body said (the embeddings' encoding).
fn openai_only<'c>(
    config: &'c Config,
    plan: &Plan<'c>,
    body: Map<String, Value>,
    (call, operation): (OpenAiOnly, Operation),
    stream: bool,
    log: &Option<LogHandle>,
) -> impl FnMut(Target<'c>) -> Result<(Forward<'c>, ()), ApiError> {
    let mut body = BodyPerTarget::new(plan, body);
    let log = log.clone();
    move |target| {
        let body = body.next();
        let wire = target.provider.format.wire();
        let outbound = match call {
            OpenAiOnly::Embeddings => wire.embeddings_request(body, &target.model),
            OpenAiOnly::Completions => wire.completions_request(body, &target.model, stream),
        }
        .map_err(ApiError::invalid)?;
        let request = Forward {
            config,
            operation,
            path: outbound.path,
            body: encode(&outbound.body)?,
            stream,
            client_wants_usage: outbound.client_wants_usage,
            target,
            log: log.clone(),
        };
        Ok((request, ()))
    }
}
