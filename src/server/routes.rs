//! Route table and handlers.

use actix_web::dev::HttpServiceFactory;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::{optional_str, read_optional_json_object};
use super::middleware::{is_authorized, require_proxy_key};
use super::models::{list_models, retrieve_model};
use super::openai_only::{proxy_call, OpenAiOnly};
use super::serve::serve;
use super::Shared;
use super::{admin_keys, admin_keys_file};
use crate::error::ApiError;
use crate::inbound::{AnthropicMessages, InboundApi, OpenAiChat, OpenAiResponses};
use crate::keypool::{reset_cooldowns, usage_report, ResetCooldowns};
use crate::worker::UpstreamWorker;

type Worker = web::Data<UpstreamWorker>;

/// Registers client-facing chat APIs in the `/v1` scope.
pub type ClientApis = fn(actix_web::Scope) -> actix_web::Scope;

/// The client-facing chat APIs, one line each (see [`client_api`]).
pub fn client_apis(v1: actix_web::Scope) -> actix_web::Scope {
    v1.service(client_api::<OpenAiChat>("/chat/completions"))
        .service(client_api_with::<AnthropicMessages>(
            "/messages",
            |routes| {
                routes.service(only::<AnthropicMessages>(
                    "/count_tokens",
                    web::post().to(super::messages_count::count_tokens),
                ))
            },
        ))
        .service(client_api_with::<OpenAiResponses>("/responses", |routes| {
            use super::stored_responses::routes::{delete, input_items, retrieve};
            routes
                .service(
                    only::<OpenAiResponses>("/{id}", web::get().to(retrieve))
                        .route(web::delete().to(delete)),
                )
                .service(only::<OpenAiResponses>(
                    "/{id}/input_items",
                    web::get().to(input_items),
                ))
        }))
}

/// The route table, with the chat APIs `apis` registers. Every `/v1` route
/// checks the proxy key in the way of the client's API
/// ([`require_proxy_key`]).
pub fn configure(cfg: &mut web::ServiceConfig, apis: ClientApis) {
    // Everything under `/v1` besides the chat APIs speaks OpenAI's shapes.
    let openai = only::<OpenAiChat>;
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .route("/", web::get().to(super::status::page))
        .route("/status", web::get().to(super::status::page))
        .service(
            apis(web::scope("/v1")).service(
                // Matches whatever the APIs before it did not.
                web::scope("")
                    .wrap(from_fn(require_proxy_key::<OpenAiChat, _>))
                    .service(openai("/completions", web::post().to(completions)))
                    .service(openai("/embeddings", web::post().to(embeddings)))
                    .service(openai("/models", web::get().to(models)))
                    // A tail match: ids contain slashes (`openrouter/meta-llama/…`).
                    .service(openai("/models/{id:.*}", web::get().to(model)))
                    .service(openai("/providers", web::get().to(providers)))
                    .service(openai(
                        "/token-count",
                        web::post().to(super::count::token_count),
                    ))
                    .service(openai("/usage", web::get().to(usage)))
                    .service(openai("/usage/reset", web::post().to(reset_usage)))
                    .service(openai("/admin/reload", web::post().to(admin_reload)))
                    .service(
                        web::resource("/admin/keys")
                            .route(web::get().to(admin_keys::list))
                            .route(web::post().to(admin_keys_file::add))
                            .default_service(web::to(method_not_allowed::<OpenAiChat>)),
                    )
                    .service(openai(
                        "/admin/keys/{id}",
                        web::delete().to(admin_keys_file::remove),
                    ))
                    .service(openai(
                        "/admin/keys/{id}/disable",
                        web::post().to(admin_keys::disable),
                    ))
                    .service(openai(
                        "/admin/keys/{id}/enable",
                        web::post().to(admin_keys::enable),
                    ))
                    .default_service(web::to(not_found::<OpenAiChat>)),
            ),
        );
}

/// A client-facing API `A` at `path`: its chat requests go through
/// [`serve`], its key headers and error envelope apply to everything under
/// `path` (more routes may be added to the scope).
pub fn client_api<A: InboundApi>(path: &str) -> impl HttpServiceFactory {
    client_api_with::<A>(path, |routes| routes)
}

/// [`client_api`] with the API's further routes, which `more` adds.
pub fn client_api_with<A: InboundApi>(
    path: &str,
    more: fn(actix_web::Scope) -> actix_web::Scope,
) -> impl HttpServiceFactory {
    more(web::scope(path).service(only::<A>("", web::post().to(serve::<A>))))
        .default_service(web::to(not_found::<A>))
        .wrap(from_fn(require_proxy_key::<A, _>))
}

/// A resource with one route; other methods get 405 in `A`'s envelope.
fn only<A: InboundApi>(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(method_not_allowed::<A>))
}

/// Legacy text completions, for OpenAI-compatible providers.
async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    proxy_call(req, payload, shared, worker, OpenAiOnly::Completions).await
}

async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    worker: Worker,
) -> Result<HttpResponse, ApiError> {
    proxy_call(req, payload, shared, worker, OpenAiOnly::Embeddings).await
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
    let report = usage_report(&shared.pool)
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
    let changed = reset_cooldowns(&shared.pool, reset)
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
    let pool = usage_report(&shared.pool).await.unwrap_or_default();
    let mut text = shared.metrics.render(&pool, shared.clock.now());
    if let Some(state) = &shared.state {
        super::metrics::render_state(&mut text, state);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

/// Reloads the configuration; an invalid one is refused with a 400 and the
/// old one stays.
async fn admin_reload(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let reloaded = super::reload::reload(&shared)
        .await
        .map_err(ApiError::invalid)?;
    Ok(HttpResponse::Ok().json(reloaded))
}

/// 200 while the proxy serves; `degraded` while shared key state
/// (Redis) does not answer and the replica serves from its local view.
async fn health(shared: web::Data<Shared>) -> HttpResponse {
    match &shared.state {
        Some(state) if !state.is_up() => HttpResponse::Ok().json(json!({
            "status": "degraded",
            "state_backend": "unreachable",
        })),
        _ => HttpResponse::Ok().json(json!({"status": "ok"})),
    }
}

pub async fn not_found<A: InboundApi>(req: HttpRequest) -> HttpResponse {
    A::error(&ApiError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_string(),
    })
}

async fn method_not_allowed<A: InboundApi>(req: HttpRequest) -> HttpResponse {
    A::error(&ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: req.path().to_string(),
    })
}
