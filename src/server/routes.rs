//! Route table and handlers.

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::json;

use super::body::{
    optional_str, parse_json_object, read_body, read_optional_json_object, resolve_model,
    resolve_target, stream_flag,
};
use super::middleware::{is_authorized, require_proxy_key};
use super::models::{list_models, retrieve_model};
use super::relay::{forward, Forward, Operation};
use super::shape::check_messages;
use super::Shared;
use crate::config::Config;
use crate::error::ApiError;
use crate::keypool::{GetUsage, ResetCooldowns};
use crate::providers::{openai, EmbeddingEncoding, Format};
use crate::worker::UpstreamWorker;

type Worker = web::Data<actix::Addr<UpstreamWorker>>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .route("/", web::get().to(super::status::page))
        .route("/status", web::get().to(super::status::page))
        .service(
            web::scope("/v1")
                .wrap(from_fn(require_proxy_key))
                .service(only("/chat/completions", web::post().to(chat_completions)))
                .service(only("/completions", web::post().to(completions)))
                .service(only("/embeddings", web::post().to(embeddings)))
                .service(only("/models", web::get().to(models)))
                // A tail match: ids contain slashes (`openrouter/meta-llama/…`).
                .service(only("/models/{id:.*}", web::get().to(model)))
                .service(only("/providers", web::get().to(providers)))
                .service(only(
                    "/token-count",
                    web::post().to(super::count::token_count),
                ))
                .service(only("/messages", web::post().to(super::messages::messages)))
                .service(only(
                    "/messages/count_tokens",
                    web::post().to(super::messages::count_tokens),
                ))
                .service(only("/usage", web::get().to(usage)))
                .service(only("/usage/reset", web::post().to(reset_usage)))
                .service(only("/admin/reload", web::post().to(admin_reload)))
                .default_service(web::to(not_found)),
        );
}

/// A resource with one route; other methods get 405 in the error envelope.
fn only(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed))
}

async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    proxy_call(req, payload, shared, worker, Operation::Chat).await
}

/// Legacy text completions, for OpenAI-compatible providers.
async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    proxy_call(req, payload, shared, worker, Operation::Completions).await
}

async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    // The encoding is read from the body once it is parsed.
    let operation = Operation::Embeddings(EmbeddingEncoding::Float);
    proxy_call(req, payload, shared, worker, operation).await
}

/// Shared body of the completion-like routes.
async fn proxy_call(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
    operation: Operation,
) -> Result<HttpResponse, ApiError> {
    let config = shared.config();
    let limit = config.settings.server.max_body_size;
    let raw = read_body(req.headers(), payload, limit).await?;
    if let Some(request) = plain_openai(&shared, &config, &req, &raw, operation) {
        return forward(&shared, &worker, &req, request).await;
    }
    let body = parse_json_object(&raw)?;
    let log = super::start_log(&shared, &req, &body);
    let prepared = async {
        let target = resolve_target(&config, &body)?;
        let stream = !matches!(operation, Operation::Embeddings(_)) && stream_flag(&body)?;
        if operation == Operation::Chat {
            check_messages(&body)?;
        }
        let wire = target.provider.format.wire();
        let operation = match operation {
            Operation::Embeddings(_) => Operation::Embeddings(
                EmbeddingEncoding::of(&body)
                    .map_err(|e| ApiError::invalid_param(e, "encoding_format"))?,
            ),
            other => other,
        };
        let outbound = match operation {
            Operation::Chat => wire.chat_request(body, &target.model, stream),
            Operation::Completions => wire.completions_request(body, &target.model, stream),
            Operation::Embeddings(_) => wire.embeddings_request(body, &target.model),
        }
        .map_err(ApiError::invalid)?;
        Ok::<_, ApiError>(Forward {
            config: &config,
            operation,
            path: outbound.path,
            body: serde_json::to_vec(&outbound.body)
                .map(Bytes::from)
                .map_err(|e| ApiError::invalid(format!("cannot encode the request: {e}")))?,
            stream,
            client_wants_usage: outbound.client_wants_usage,
            target,
            log: log.clone(),
        })
    }
    .await;
    match prepared {
        Ok(request) => forward(&shared, &worker, &req, request).await,
        Err(e) => {
            // Refused before any provider was asked: logged with its status.
            if let Some(log) = &log {
                log.finish(actix_web::ResponseError::status_code(&e).as_u16());
            }
            Err(e)
        }
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
        Operation::Completions if plain.stream? => return None,
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

async fn models(shared: web::Data<Shared>, worker: Worker) -> HttpResponse {
    HttpResponse::Ok().json(list_models(&shared, &worker).await)
}

/// `GET /v1/models/{id}` (the SDKs' `models.retrieve`); a percent-encoded
/// id (`groq%2Fllama`) arrives decoded.
async fn model(
    id: web::Path<String>,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(retrieve_model(&shared, &worker, &id).await?))
}

async fn providers(shared: web::Data<Shared>) -> HttpResponse {
    let config = shared.config();
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    HttpResponse::Ok().json(names)
}

async fn usage(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let report = shared
        .pool
        .send(GetUsage)
        .await
        .map_err(|_| ApiError::Unavailable("the key pool stopped"))?;
    Ok(HttpResponse::Ok().json(report))
}

/// The fields `POST /v1/usage/reset` accepts.
const RESET_FILTERS: [&str; 3] = ["provider", "key_id", "model"];

/// Manual recovery: `{"provider", "key_id", "model"}`, each optional; an
/// empty body clears every key.
async fn reset_usage(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let limit = shared.config().settings.server.max_body_size;
    let body = read_optional_json_object(req.headers(), payload, limit)
        .await?
        .unwrap_or_default();
    // A misspelt filter must not widen the reset to every key.
    if let Some(unknown) = body.keys().find(|k| !RESET_FILTERS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field `{unknown}` in the reset request: the filters are `provider`, \
             `key_id` and `model` (send no body to reset every key)"
        )));
    }
    let reset = ResetCooldowns {
        provider: optional_str(&body, "provider")?,
        key_id: optional_str(&body, "key_id")?,
        model: optional_str(&body, "model")?,
    };
    let changed = shared
        .pool
        .send(reset)
        .await
        .map_err(|_| ApiError::Unavailable("the key pool stopped"))?
        .map_err(ApiError::invalid)?;
    Ok(HttpResponse::Ok().json(json!({ "reset": changed })))
}

/// Prometheus text; no auth, like `/health`, unless `metrics_auth` is on
/// (or put it behind the network's own controls).
async fn metrics(req: HttpRequest, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let refused = shared.with_config(|config| {
        config.settings.server.metrics_auth
            && config
                .proxy_api_key
                .as_ref()
                .is_some_and(|key| !is_authorized(req.headers(), key))
    });
    if refused {
        return Err(ApiError::Unauthorized);
    }
    let pool = shared.pool.send(GetUsage).await.unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(shared.metrics.render(&pool, shared.clock.now())))
}

/// Reloads the configuration; an invalid one is refused with a 400 and the
/// old one stays.
async fn admin_reload(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let reloaded = super::reload::reload(&shared)
        .await
        .map_err(ApiError::invalid)?;
    Ok(HttpResponse::Ok().json(reloaded))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let error = ApiError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_string(),
    };
    in_envelope(&req, &error)
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let error = ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: req.path().to_string(),
    };
    in_envelope(&req, &error)
}

/// The error in the envelope of the API the path belongs to: Anthropic's
/// under `/v1/messages`, OpenAI's elsewhere.
fn in_envelope(req: &HttpRequest, error: &ApiError) -> HttpResponse {
    if req.path().starts_with("/v1/messages") {
        super::messages::anthropic_error(error)
    } else {
        actix_web::ResponseError::error_response(error)
    }
}
